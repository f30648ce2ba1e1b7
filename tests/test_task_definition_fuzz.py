"""Property tests: whatever JSON comes in, the only error is InvalidTaskDefinitionError;
and every valid definition survives ``to_dict`` / ``from_dict`` unchanged."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyecs import InvalidTaskDefinitionError, TaskDefinition
from pyecs.ecs._converter import camel
from pyecs.models import task_definition as models

VALID = sorted((Path(__file__).parent / "data" / "valid").glob("*.json"))
VALID_JSON = [json.loads(p.read_text()) for p in VALID]

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Every camelCase key the models know, so that random objects often hit real fields.
KNOWN_KEYS = sorted(
    {
        camel(a.name)
        for cls in vars(models).values()
        if isinstance(cls, type) and attrs.has(cls)
        for a in attrs.fields(cls)
    }
)

#: Values that once broke parsers: huge numbers, long digit runs, non-ASCII digits.
tricky = st.sampled_from(
    [
        "9" * 400,
        "9" * 400 + " vCPU",
        "1" * 5000 + "GB",
        "1-" + "9" * 5000,
        "8000-8010",
        "8010-8000",
        "\u0661\u0660\u0662\u0664",
        "aws:x",
        2**64,
        -1,
        0,
    ]
) | st.from_regex(r" ?[0-9]{1,40}(\.[0-9]{1,3})? ?(vCPU|vcpu|GB|GiB|MiB|MB)?", fullmatch=True)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["", "0", "512", "1 vCPU", "2GB", "CMD", "START", "tcp", "bridge", "x:y"])
    | tricky
)
keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6),
    max_leaves=25,
)
field_values = tricky | json_values


def _objects_of(cls: type, **nested: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Dicts with some of ``cls``'s real JSON keys (and maybe a stray one), values garbage."""
    fields = {camel(a.name): field_values for a in attrs.fields(cls)}
    fields.update(nested)
    return st.fixed_dictionaries({}, optional=fields) | st.dictionaries(keys, field_values)


port_mappings = st.lists(_objects_of(models.PortMapping), max_size=3)
containers = st.lists(
    _objects_of(
        models.ContainerDefinition,
        portMappings=port_mappings | field_values,
        healthCheck=_objects_of(models.HealthCheck),
        dependsOn=st.lists(_objects_of(models.ContainerDependency), max_size=3),
        ulimits=st.lists(_objects_of(models.Ulimit), max_size=2),
    ),
    max_size=4,
)


def _load_or_invalid(data: object) -> TaskDefinition | None:
    """Load ``data``; an InvalidTaskDefinitionError is fine, any other exception fails."""
    try:
        return TaskDefinition.from_dict(data)
    except InvalidTaskDefinitionError as exc:
        assert exc.problems
        assert all(p.message for p in exc.problems)
        str(exc)  # rendering the message never fails either
        return None


# -- (a) arbitrary input -------------------------------------------------------------------


@FUZZ
@given(json_values)
def test_arbitrary_json_value_raises_only_invalid_task_definition(value: object) -> None:
    _load_or_invalid(value)


@FUZZ
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "family": json_values,
            "containerDefinitions": containers | json_values,
            "networkMode": st.sampled_from(["bridge", "host", "awsvpc", "none"]) | field_values,
            "cpu": field_values,
            "memory": field_values,
            "volumes": st.lists(_objects_of(models.Volume), max_size=3) | field_values,
            "tags": st.lists(_objects_of(models.Tag), max_size=3) | field_values,
            "placementConstraints": st.lists(
                _objects_of(models.TaskDefinitionPlacementConstraint), max_size=3
            )
            | field_values,
            "requiresCompatibilities": field_values,
        },
    )
)
def test_task_definition_shaped_garbage_raises_only_invalid_task_definition(
    value: dict[str, Any],
) -> None:
    _load_or_invalid(value)


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=100))
def test_arbitrary_text_raises_only_invalid_task_definition(text: str | bytes) -> None:
    try:
        TaskDefinition.from_json(text)
    except InvalidTaskDefinitionError as exc:
        assert exc.problems


def _mutate(data: st.DataObject, doc: Any) -> Any:
    """Replace, delete or add one value somewhere in ``doc`` (at a random depth)."""
    doc = copy.deepcopy(doc)
    parent: Any = None
    key: Any = None
    node = doc
    while isinstance(node, dict | list) and node and data.draw(st.booleans(), label="deeper"):
        key = data.draw(
            st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))),
            label="key",
        )
        parent, node = node, node[key]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
    garbage = data.draw(field_values, label="garbage")
    if action == "add" and isinstance(node, dict):
        node[data.draw(keys, label="new key")] = garbage
    elif action == "add" and isinstance(node, list):
        node.insert(data.draw(st.integers(0, len(node)), label="at"), garbage)
    elif action == "delete" and parent is not None:
        del parent[key]
    elif parent is None:
        return garbage
    else:
        parent[key] = garbage
    return doc


@FUZZ
@given(st.data(), st.sampled_from(VALID_JSON))
def test_mutated_valid_definition_raises_only_invalid_task_definition(
    data: st.DataObject, doc: Any
) -> None:
    mutated = _mutate(data, doc)
    td = _load_or_invalid(mutated)
    if td is not None:  # the mutation kept it valid: it must still round-trip
        text = json.dumps(td.to_dict(), sort_keys=True)  # (compared as text: NaN != NaN)
        again = TaskDefinition.from_dict(td.to_dict())
        assert json.dumps(again.to_dict(), sort_keys=True) == text


VALID_MODELS = [TaskDefinition.from_dict(doc) for doc in VALID_JSON]
python_garbage = (
    field_values
    | st.tuples(scalars, scalars)
    | st.frozensets(st.integers(), max_size=2)
    | st.builds(object)
    | st.sampled_from((*VALID_MODELS[0].containers, VALID_MODELS[0]))
)


def _mutate_model(data: st.DataObject, obj: Any) -> Any:
    """``obj`` with one attribute, at a random depth, replaced by a random Python value."""
    deeper = data.draw(st.booleans(), label="deeper")
    if deeper and attrs.has(type(obj)):
        name = data.draw(st.sampled_from([a.name for a in attrs.fields(type(obj))]), label="field")
        return attrs.evolve(obj, **{name: _mutate_model(data, getattr(obj, name))})
    if deeper and isinstance(obj, tuple) and obj:
        i = data.draw(st.integers(0, len(obj) - 1), label="index")
        return (*obj[:i], _mutate_model(data, obj[i]), *obj[i + 1 :])
    return data.draw(python_garbage, label="garbage")


@FUZZ
@given(st.data(), st.sampled_from(VALID_MODELS))
def test_python_built_definition_with_garbage_raises_only_invalid_task_definition(
    data: st.DataObject, td: TaskDefinition
) -> None:
    """Models built in Python are validated too: a wrong type is a problem, not a crash."""
    try:
        mutated = _mutate_model(data, td)
    except InvalidTaskDefinitionError as exc:
        assert exc.problems
        return
    if isinstance(mutated, TaskDefinition):
        # Still valid: its JSON loads back (Python tuples in free-form fields become lists).
        text = json.dumps(mutated.to_dict(), sort_keys=True)
        again = TaskDefinition.from_json(text)
        assert json.dumps(again.to_dict(), sort_keys=True) == text


# -- (b) valid definitions round-trip ------------------------------------------------------

names = st.from_regex(r"[A-Za-z0-9_-]{1,24}", fullmatch=True)
families = st.from_regex(r"[A-Za-z0-9_-]{1,255}", fullmatch=True)
env_names = st.from_regex(r"[A-Z_][A-Z0-9_]{0,15}", fullmatch=True)
# No NUL: no process argument, environment variable or label can hold one.
words = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"),
    max_size=30,
)


@st.composite
def health_checks(draw: st.DrawFn) -> dict[str, Any]:
    hc: dict[str, Any] = {
        "command": draw(
            st.sampled_from(
                [
                    ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
                    ["CMD", "wget", "-q", "--spider", "http://localhost/"],
                    ["CMD", "true"],
                ]
            )
        )
    }
    for key, lo, hi in (
        ("interval", 5, 300),
        ("timeout", 2, 60),
        ("retries", 1, 10),
        ("startPeriod", 0, 300),
    ):
        if draw(st.booleans()):
            hc[key] = draw(st.integers(lo, hi))
    return hc


@st.composite
def valid_definitions(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from([None, "bridge", "host", "awsvpc"]))
    task_memory = draw(st.sampled_from([None, "512", "2GB", "1 GB", "4096"]))
    count = draw(st.integers(1, 10))
    container_names = draw(st.lists(names, min_size=count, max_size=count, unique=True))
    # Container ports unique across the task, so that static host ports never clash.
    ports = iter(draw(st.lists(st.integers(1, 65535), min_size=30, max_size=30, unique=True)))
    essential_one = draw(st.integers(0, count - 1))
    containers: list[dict[str, Any]] = []
    for i, name in enumerate(container_names):
        c: dict[str, Any] = {"name": name, "image": draw(st.sampled_from(["nginx", "busybox:1"]))}
        memory = draw(st.none() | st.integers(6, 8192))
        reservation = draw(st.none() | st.integers(6, 8192))
        if task_memory is None and memory is None and reservation is None:
            memory = 128
        if memory is not None and reservation is not None and reservation >= memory:
            reservation = None
        # With task memory (512 MiB at least), the containers' memory must fit in it
        # (ContainerDefinition memory / memoryReservation, ECS API reference).
        share = max(6, 512 // count)
        if task_memory is not None:
            if memory is not None and memory > share:
                memory = share
            if reservation is not None and reservation > share:
                reservation = share
            if memory is not None and reservation is not None and reservation >= memory:
                reservation = None
        if memory is not None:
            c["memory"] = memory
        if reservation is not None:
            c["memoryReservation"] = reservation
        if draw(st.booleans()):
            c["cpu"] = draw(st.integers(0, 4096))
        if i == essential_one:
            if draw(st.booleans()):
                c["essential"] = True
        elif draw(st.booleans()):
            c["essential"] = draw(st.booleans())
        mappings = []
        for _ in range(draw(st.integers(0, 3))):
            port = next(ports)
            pm: dict[str, Any] = {"containerPort": port}
            host = draw(st.sampled_from(["omit", "same", "zero"]))
            if host == "same" or (host == "zero" and mode in (None, "bridge")):
                pm["hostPort"] = port if host == "same" else 0
            protocol = draw(st.sampled_from([None, "tcp", "udp"]))
            if protocol:
                pm["protocol"] = protocol
            mappings.append(pm)
        if mappings or draw(st.booleans()):
            c["portMappings"] = mappings
        if draw(st.booleans()):
            c["command"] = draw(st.lists(words, max_size=4))
        if draw(st.booleans()):
            c["environment"] = [
                {"name": n, "value": draw(words)}
                for n in draw(st.lists(env_names, max_size=3, unique=True))
            ]
        if draw(st.booleans()):
            c["healthCheck"] = draw(health_checks())
        if draw(st.booleans()):
            c["dockerLabels"] = draw(st.dictionaries(names, words, max_size=3))
        containers.append(c)
    # dependsOn only points at earlier containers: never a cycle.
    for i, c in enumerate(containers):
        deps = []
        for target in draw(st.lists(st.sampled_from(containers[:i]), max_size=2)) if i else []:
            allowed = ["START"]
            if "healthCheck" in target:
                allowed.append("HEALTHY")
            if target.get("essential") is False:
                allowed += ["COMPLETE", "SUCCESS"]
            if any(d["containerName"] == target["name"] for d in deps):
                continue
            deps.append(
                {"containerName": target["name"], "condition": draw(st.sampled_from(allowed))}
            )
        if deps:
            c["dependsOn"] = deps
    td: dict[str, Any] = {"family": draw(families), "containerDefinitions": containers}
    if mode is not None:
        td["networkMode"] = mode
    if task_memory is not None:
        td["memory"] = task_memory
    if draw(st.booleans()):
        td["cpu"] = draw(st.sampled_from(["256", "1024", "1 vCPU", "0.5 vCPU"]))
    if draw(st.booleans()):
        td["tags"] = [
            {"key": k, "value": draw(words)}
            for k in draw(
                st.lists(
                    names.filter(lambda k: not k.lower().startswith("aws:")),
                    max_size=5,
                    unique=True,
                )
            )
        ]
    return td


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_definitions())
def test_valid_generated_definition_round_trips(doc: dict[str, Any]) -> None:
    td = TaskDefinition.from_dict(doc)
    assert td.to_dict() == doc
    assert TaskDefinition.from_dict(td.to_dict()) == td
    assert TaskDefinition.from_json(json.dumps(td.to_dict())) == td
    assert len(td.containers) == len(doc["containerDefinitions"])
