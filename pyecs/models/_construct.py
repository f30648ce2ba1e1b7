"""Fast construction and copies of the frozen attrs classes made in hot paths.

attrs' ``__init__`` of a frozen class sets each field through ``object.__setattr__``,
which looks the field up again by name; ``attrs.evolve`` also reads every field by name
and passes it by keyword. The runtime makes a snapshot of a task (and of its containers)
at every change of every task, a million of them in a large simulation, so these two
matter.

The way here: each such class gets a *writable twin*, a subclass that adds nothing but
the plain ``object.__setattr__``. A new object is made as the twin, its slots are set by
plain attribute stores (which the interpreter specialises to a direct slot write), and
its class is then set to the frozen class itself. The result is an ordinary instance of
that class (``type(x) is cls``); the twin is never seen outside this module, except in
``cls.__subclasses__()``. Python allows the class change because the twin has the very
same layout (no slots of its own); it works the same on 3.11 to 3.13.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs

__all__ = ["evolver", "field_changer", "positional_constructor"]

_C = TypeVar("_C")
_HOOKS = ("__attrs_pre_init__", "__attrs_post_init__", "__attrs_init_subclass__")
_TWINS: dict[type[Any], type[Any] | None] = {}


def _twin(cls: type[Any]) -> type[Any] | None:
    """The writable twin of ``cls``, or None when ``cls`` cannot be made without its
    ``__init__``: a field with a validator or converter, a renamed argument, a hook, or
    a slot that is not a field (attrs' cached hash, which would stay unset)."""
    if cls in _TWINS:
        return _TWINS[cls]
    twin: type[Any] | None = None
    fields = attrs.fields(cls)
    plain = all(
        a.init and a.converter is None and a.validator is None and a.alias == a.name for a in fields
    )
    names = {a.name for a in fields}
    others = set(vars(cls).get("__slots__", ("?",))) - names - {"__weakref__"}
    if plain and not others and not any(hasattr(cls, h) for h in _HOOKS):
        twin = type(
            f"_Writable{cls.__name__}",
            (cls,),
            {
                "__slots__": (),
                # Both, so that the type's setattr slot is the generic one, which the
                # interpreter specialises; with only one the slot stays a Python call.
                "__setattr__": object.__setattr__,
                "__delattr__": object.__delattr__,
                "__module__": cls.__module__,
            },
        )
    _TWINS[cls] = twin
    return twin


def _compile(name: str, args: Sequence[str], body: Sequence[str], scope: dict[str, Any]) -> Any:
    lines = "".join(f"    {line}\n" for line in body)
    exec(f"def {name}({', '.join(args)}):\n{lines}", scope)
    return scope[name]


def _through_twin(
    name: str, args: Sequence[str], values: Sequence[str], cls: type[Any], twin: type[Any]
) -> Any:
    """A function ``name(*args)`` that makes a ``cls`` through its twin, with the
    expressions ``values`` for its fields, in field order."""
    fields = [a.name for a in attrs.fields(cls)]
    body = [
        "self = new(twin)",
        *(f"self.{f} = {v}" for f, v in zip(fields, values, strict=True)),
        "self.__class__ = cls",
        "return self",
    ]
    return _compile(name, args, body, {"new": object.__new__, "twin": twin, "cls": cls})


def positional_constructor(cls: type[_C]) -> Callable[..., _C]:
    """``cls(*values)`` for a frozen, slotted attrs class whose every field is a plain
    ``__init__`` argument, several times faster (see the module's docstring).

    Any other class gets ``cls`` itself.
    """
    twin = _twin(cls)
    if twin is None:
        return cls
    names = [a.name for a in attrs.fields(cls)]  # type: ignore[arg-type]
    make: Callable[..., _C] = _through_twin("make", names, names, cls, twin)
    return make


def field_changer(cls: type[_C], names: Sequence[str]) -> Callable[..., _C]:
    """``change(obj, *values)``: ``attrs.evolve(obj, **dict(zip(names, values)))`` for an
    instance of ``cls``, several times faster (the other fields are copied slot to slot;
    see the module's docstring).

    Raises:
        ValueError: ``names`` is not a list of distinct fields of ``cls``.
    """
    fields = [a.name for a in attrs.fields(cls)]  # type: ignore[arg-type]
    if len(set(names)) != len(names) or not set(names) <= set(fields):
        raise ValueError(f"field_changer: {list(names)} are not distinct fields of {cls.__name__}")
    given = {n: f"v{i}" for i, n in enumerate(names)}
    args = ["obj", *given.values()]
    twin = _twin(cls)
    if twin is None:
        keywords = ", ".join(f"{n}={v}" for n, v in given.items())
        evolve = [f"return evolve(obj, {keywords})"]
        return _compile("change", args, evolve, {"evolve": attrs.evolve})  # type: ignore[no-any-return]
    values = [given.get(n, "obj." + n) for n in fields]
    change: Callable[..., _C] = _through_twin("change", args, values, cls, twin)
    return change


def evolver(cls: type[_C]) -> Callable[..., _C]:
    """``evolve(obj, **changes)``: ``attrs.evolve`` for instances of ``cls``, several times
    faster, through a :func:`field_changer` per set of names changed (call sites name a
    handful of sets; each is made on its first use)."""
    changers: dict[tuple[str, ...], Callable[..., _C]] = {}

    def evolve(obj: _C, /, **changes: Any) -> _C:
        names = tuple(changes)
        change = changers.get(names)
        if change is None:
            change = changers[names] = field_changer(cls, names)
        return change(obj, *changes.values())

    evolve.__doc__ = f"``attrs.evolve`` for a ``{cls.__name__}``, faster (see ``evolver``)."
    return evolve
