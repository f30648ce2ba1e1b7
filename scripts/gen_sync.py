"""Write ``pyecs/sync/_generated.py``: the blocking twins of pyecs.Cluster and pyecs.Service.

Run it after changing the async API::

    .venv/bin/python scripts/gen_sync.py           # rewrites the file
    .venv/bin/python scripts/gen_sync.py --check   # exit 1 when the file is out of date

``tests/test_sync.py`` fails when the committed file differs from what this writes, and
checks every public member of the async classes against its blocking twin.

A twin has the async member's name, kind (method or property), parameters (names, kinds,
defaults, annotations) and docstring. The documented differences (the mapping):

- ``async def f(...) -> T`` becomes ``def f(...) -> T``: it runs in the cluster's event
  loop, through the portal, and blocks until it is done. A ``timeout`` is checked in the
  calling thread first (:func:`pyecs._checks.check_timeout`).
- ``def f(...) -> T`` and properties are read in the event loop too (thread safety), except
  the ``direct`` properties below, fixed values that stay readable outside ``with``.
- ``def f(...) -> AsyncIterator[X]`` becomes ``-> BlockingStream[X]`` (called in the loop at
  once, so that argument errors raise at the call).
- an async generator ``-> AsyncIterator[X]`` becomes a generator ``-> Iterator[X]``.
- an ``@asynccontextmanager`` yielding ``AsyncIterator[X]`` becomes ``-> BlockingStream[X]``
  (a context manager that is its own iterator).
- :class:`pyecs.Service` becomes :class:`pyecs.sync.Service` in return types.
- docstrings: ``async with`` / ``async for`` become ``with`` / ``for``; ``await`` goes.

Members that ``pyecs/sync/_base.py`` defines are hand-written there (the loop and ``with``,
the special cases, the async objects' instance attributes) and are not generated. Members
whose blocking form is not mechanical make this script stop with a message saying so.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import functools
import importlib
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "pyecs" / "sync" / "_generated.py"
BASE = ROOT / "pyecs" / "sync" / "_base.py"
RUN = ".venv/bin/python scripts/gen_sync.py"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _ruff import RuffError, ruff_run  # noqa: E402 - beside this script


class GenerationError(Exception):
    """The async API has a member this script cannot twin mechanically."""


# -- what is twinned, and how ------------------------------------------------------------


@dataclass(frozen=True)
class Twin:
    """One async class and its blocking twin."""

    name: str
    """The class name, the same in :mod:`pyecs` and :mod:`pyecs.sync`."""
    base: str
    """The hand-written base class in ``pyecs/sync/_base.py``."""
    bases: str
    """The generated class's bases, as written."""
    summary: str
    """The start of the twin's class docstring."""
    direct: frozenset[str]
    """Properties read in the calling thread: values fixed when the object is made."""
    async_only: Mapping[str, str]
    """Public names of the async class with no twin, and why."""
    sync_only: Mapping[str, str]
    """Public names only the twin has, and why."""
    init_extras: tuple[tuple[str, str, str, str], ...] = ()
    """Keyword-only ``__init__`` parameters only the twin takes: name, annotation, default,
    the line of the class docstring's ``Args:`` that describes it."""


TWINS = (
    Twin(
        name="Service",
        base="ServiceBase",
        bases="ServiceBase",
        summary=(
            "One ECS service, with blocking calls. Get it from "
            "``cluster.create_service(...)``.\n\n"
            "Same operations, semantics and errors as :class:`pyecs.Service`, without\n"
            "``await``: every call runs in the cluster's event loop (in the portal thread) "
            "and\nblocks until it is done. Reads are properties, as on the async service."
        ),
        direct=frozenset(),
        async_only={
            "run": "the reconcile loop, which the cluster runs",
            "wake": "called by the cluster when a task or an instance changes",
            "on_task": "called by the cluster with every snapshot of the service's tasks",
            "freeze": "called by the cluster while it closes",
            "change_event": "an anyio.Event of the cluster's loop: it cannot be awaited here",
            "features": "objects that live in the cluster's loop (use async_service there)",
        },
        sync_only={"async_service": "the pyecs.Service underneath"},
    ),
    Twin(
        name="Cluster",
        base="ClusterBase",
        bases="ClusterBase[Service]",
        summary=(
            "An ECS-style cluster with blocking calls: use it as "
            "``with Cluster(...) as c:``.\n\n"
            "The blocking twin of :class:`pyecs.Cluster`: the same operations, arguments, "
            "return\nvalues and errors, without ``await``. The cluster runs in an event loop "
            "of its own, in a\nbackground thread; each call is sent there and blocks until "
            "it is done."
        ),
        direct=frozenset({"arn", "state"}),
        async_only={"aclose": "close() (or leaving the with block) does it"},
        sync_only={
            "open": "starts the event loop thread (with does it)",
            "close": "ends it (leaving with does it)",
            "portal": "the portal into the cluster's event loop",
            "async_cluster": "the pyecs.Cluster underneath",
        },
        init_extras=(
            (
                "async_backend",
                "str",
                '"asyncio"',
                "async_backend: The event loop to run the cluster in: ``asyncio`` or ``trio``.",
            ),
            (
                "async_backend_options",
                "Mapping[str, Any] | None",
                "None",
                "async_backend_options: Options for that loop, as :func:`anyio.run` takes them.",
            ),
        ),
    ),
)

#: Names the generated module defines or imports for itself: (local name, module, attribute).
OWN_NAMES = (
    ("AsyncCluster", "pyecs.cluster._cluster", "Cluster"),
    ("AsyncService", "pyecs.service._service", "Service"),
    ("BlockingStream", "pyecs.sync._bridge", "BlockingStream"),
    ("ClusterBase", "pyecs.sync._base", "ClusterBase"),
    ("ServiceBase", "pyecs.sync._base", "ServiceBase"),
    ("check_timeout", "pyecs._checks", "check_timeout"),
    ("Cluster", "pyecs.sync._generated", "Cluster"),
    ("Service", "pyecs.sync._generated", "Service"),
)


def async_class(name: str) -> type:
    """``pyecs.Cluster`` or ``pyecs.Service``."""
    import pyecs

    cls = getattr(pyecs, name)
    assert isinstance(cls, type)
    return cls


# -- names and where they come from ------------------------------------------------------


@functools.cache
def module_names(module: str) -> Mapping[str, tuple[str, str | None]]:
    """Where each top-level name of ``module`` comes from: ``(module, attribute)``.

    Read from the source, so ``if TYPE_CHECKING:`` imports count. ``import a.b`` binds
    ``a`` to ``("a", None)``.
    """
    mod = importlib.import_module(module)
    assert mod.__file__ is not None
    tree = ast.parse(Path(mod.__file__).read_text(encoding="utf-8"))
    package = module if mod.__file__.endswith("__init__.py") else module.rpartition(".")[0]
    out: dict[str, tuple[str, str | None]] = {}

    def visit(body: Iterable[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        out[alias.asname] = (alias.name, None)
                    else:
                        root = alias.name.split(".")[0]
                        out[root] = (root, None)
            elif isinstance(node, ast.ImportFrom):
                source = node.module or ""
                if node.level:
                    parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    source = f"{parent}.{source}" if source else parent
                for alias in node.names:
                    out[alias.asname or alias.name] = (source, alias.name)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                out[node.name] = (module, node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        out[target.id] = (module, target.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                out[node.target.id] = (module, node.target.id)
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(tree.body)
    return out


def origin(name: str, module: str) -> tuple[str, str | None]:
    """Where ``name``, as used in ``module``, comes from."""
    found = module_names(module).get(name)
    if found is not None:
        return found
    if hasattr(builtins, name):
        return ("builtins", name)
    raise GenerationError(f"cannot tell where {name!r} in {module} comes from")


def canonical(path: str) -> str:
    """``pkg.mod.Name`` as the place a class or function is defined, else as given.

    Names in :mod:`pyecs.sync` stay as given: importing it imports the generated module,
    which must not be needed to write it again.
    """
    if path.startswith("pyecs.sync."):
        return path
    parts = path.split(".")
    obj: object = None
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return path
        break
    else:
        return path
    if inspect.ismodule(obj):
        return obj.__name__
    qualname = getattr(obj, "__qualname__", "")
    owner = getattr(obj, "__module__", "")
    if (isinstance(obj, type) or inspect.isfunction(obj)) and owner and "<" not in qualname:
        return f"{owner}.{qualname}"
    return path


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None when it is not a chain of names."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else [*head, node.attr]
    return None


def _full_path(chain: list[str], module: str) -> str:
    source, attr = origin(chain[0], module)
    head = source if attr is None else f"{source}.{attr}"
    return ".".join([head, *chain[1:]])


class _Rename(ast.NodeTransformer):
    """Replaces each name (or dotted chain) of an expression by ``rename(chain, module)``."""

    def __init__(self, module: str, rename: Callable[[list[str], str], str]) -> None:
        self.module = module
        self.rename = rename

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return ast.Name(id=self.rename([node.id], self.module), ctx=node.ctx)

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        chain = _dotted(node)
        if chain is None:
            return self.generic_visit(node)  # type: ignore[return-value]
        return ast.Name(id=self.rename(chain, self.module), ctx=node.ctx)


def qualify(expression: str, module: str) -> str:
    """An annotation of ``module`` with every name written out where it is defined.

    ``"Sequence[LoadBalancer] | None"`` in ``pyecs.service._manager`` gives
    ``"collections.abc.Sequence[pyecs.lb._config.LoadBalancer] | None"``.
    """
    tree = ast.parse(expression, mode="eval")
    renamed = _Rename(module, lambda chain, mod: canonical(_full_path(chain, mod))).visit(tree)
    return ast.unparse(renamed)


# -- the mapping, shared with tests/test_sync.py -----------------------------------------

ASYNC_ITERATOR = "collections.abc.AsyncIterator"
ITERATOR = "collections.abc.Iterator"
BLOCKING_STREAM = "pyecs.sync._bridge.BlockingStream"


def kind_of(member: object) -> str:
    """``property``, ``coroutine``, ``async generator``, ``async context manager`` or
    ``function``; ``other`` for anything else."""
    if isinstance(member, property):
        return "property"
    if not inspect.isfunction(member):
        return "other"
    if inspect.iscoroutinefunction(member):
        return "coroutine"
    if inspect.isasyncgenfunction(member):
        return "async generator"
    if inspect.isasyncgenfunction(inspect.unwrap(member)):
        return "async context manager"
    return "function"


def blocking_return(kind: str, qualified: str, services: Mapping[str, str]) -> str:
    """The twin's return annotation, from the async one (qualified) and the member's kind.

    Args:
        kind: What :func:`kind_of` says of the async member.
        qualified: Its return annotation, through :func:`qualify`.
        services: Qualified async class names and their twins' (``pyecs.Service`` ->
            ``pyecs.sync.Service``).
    """
    tree = ast.parse(qualified, mode="eval").body

    def subscript_of(node: ast.expr, outer: str) -> ast.expr | None:
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == outer:
            return node.slice
        return None

    item = subscript_of(tree, ASYNC_ITERATOR)
    if kind == "async context manager":
        inner = None if item is None else subscript_of(item, ASYNC_ITERATOR)
        if inner is None:
            raise GenerationError(
                f"an async context manager yielding {qualified!r} has no mechanical twin"
            )
        tree = ast.Subscript(ast.Name(BLOCKING_STREAM), inner, ast.Load())
    elif kind == "async generator":
        if item is None:
            raise GenerationError(f"an async generator returning {qualified!r}")
        tree = ast.Subscript(ast.Name(ITERATOR), item, ast.Load())
    elif kind == "function" and item is not None:
        tree = ast.Subscript(ast.Name(BLOCKING_STREAM), item, ast.Load())
    text = ast.unparse(tree)
    for async_name, sync_name in services.items():
        text = re.sub(rf"\b{re.escape(async_name)}\b", sync_name, text)
    return text


def blocking_doc(doc: str) -> str:
    """An async docstring as its twin says it: no ``async with``/``async for``/``await``."""
    doc = re.sub(r"\basync (with|for)\b", r"\1", doc)
    return re.sub(r"\bawait ", "", doc)


def public_members(cls: type) -> dict[str, object]:
    """The public members a class defines or inherits (not ``object``'s), in source order."""
    out: dict[str, object] = {}
    for klass in cls.__mro__[:-1]:
        for name, value in vars(klass).items():
            if not name.startswith("_") and name not in out:
                out[name] = value
    return out


def instance_attributes(cls: type) -> list[str]:
    """Public attributes an ``__init__`` of ``cls`` (or of a base) assigns on ``self``."""
    names: list[str] = []
    for klass in cls.__mro__[:-1]:
        init = vars(klass).get("__init__")
        if not inspect.isfunction(init):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                    and not target.attr.startswith("_")
                    and target.attr not in names
                ):
                    names.append(target.attr)
    return names


def hand_written(base: str) -> set[str]:
    """The members a class of ``pyecs/sync/_base.py`` defines (read, not imported)."""
    tree = ast.parse(BASE.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == base:
            return {
                item.name
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    raise GenerationError(f"pyecs/sync/_base.py has no class {base}")


# -- writing the module ------------------------------------------------------------------


class Imports:
    """The imports the generated module needs, by local name."""

    def __init__(self) -> None:
        self.names: dict[str, tuple[str, str | None]] = {}
        self.modules: set[str] = set()

    def need(self, local: str, module: str, attr: str | None) -> None:
        """Bind ``local`` to ``module.attr`` (or ``import module``)."""
        have = self.names.get(local)
        if have is not None and canonical(".".join(filter(None, have))) != canonical(
            ".".join(filter(None, (module, attr)))
        ):
            raise GenerationError(
                f"{local!r} would name both {'.'.join(filter(None, have))} and "
                f"{module}.{attr}; import one of them under another name in the async module"
            )
        self.names[local] = (module, attr)

    def own(self, local: str) -> str:
        """One of :data:`OWN_NAMES`."""
        for name, module, attr in OWN_NAMES:
            if name == local:
                if module != "pyecs.sync._generated":
                    self.need(name, module, attr)
                return name
        raise KeyError(local)

    def render(self) -> str:
        lines = [f"import {module}" for module in sorted(self.modules)]
        for local, (module, attr) in sorted(self.names.items()):
            if attr is None:
                lines.append(f"import {module}" + ("" if local == module else f" as {local}"))
            else:
                lines.append(
                    f"from {module} import {attr}" + ("" if local == attr else f" as {local}")
                )
        return "\n".join(lines)


class Writer:
    """Renders expressions of the async modules as the generated module spells them."""

    def __init__(self) -> None:
        self.imports = Imports()
        #: Canonical names of the generated module's own names (AsyncService...).
        self.own = {
            canonical(f"{m}.{a}"): n for n, m, a in OWN_NAMES if not m.endswith("_generated")
        }
        #: The async classes, as their twins: pyecs.service._service.Service -> Service.
        self.twins = {canonical(f"pyecs.{t.name}"): t.name for t in TWINS}

    def expression(self, node: ast.expr, module: str, *, returned: bool = False) -> str:
        """``node`` (an annotation or a default of ``module``) for the generated module."""

        def rename(chain: list[str], mod: str) -> str:
            source, attr = origin(chain[0], mod)
            full = canonical(_full_path(chain, mod))
            if full in self.twins:
                if not returned:
                    raise GenerationError(
                        f"{'.'.join(chain)} in a parameter: write its twin by hand in "
                        "pyecs/sync/_base.py"
                    )
                return self.twins[full]
            if source == "builtins":
                return ".".join(chain)
            if len(chain) > 1 and attr is None:  # a module's attribute: import the module
                parts = _full_path(chain, mod).split(".")
                for i in range(len(parts) - 1, 0, -1):
                    try:
                        importlib.import_module(".".join(parts[:i]))
                    except ImportError:
                        continue
                    if chain[0] == parts[0]:
                        self.imports.modules.add(".".join(parts[:i]))
                    else:
                        self.imports.need(chain[0], source, None)
                    break
                return ".".join(chain)
            local = chain[0]
            if local in {n for n, _, _ in OWN_NAMES} and self.own.get(full) != local:
                raise GenerationError(
                    f"{local!r} in {mod} is not the generated module's {local}: import it "
                    "under another name in the async module"
                )
            self.imports.need(local, source, attr)
            return ".".join(chain)

        return ast.unparse(_Rename(module, rename).visit(node))

    def blocking_return(self, node: ast.expr | None, module: str, kind: str) -> str:
        """The twin's return annotation, for the generated module."""
        if node is None:
            raise GenerationError("a member without a return annotation")
        if kind not in ("function", "coroutine"):
            raise GenerationError(f"a {kind} has no mechanical twin: write it in _base.py")
        chain = _dotted(node.value) if isinstance(node, ast.Subscript) else None
        if (
            kind == "function"
            and isinstance(node, ast.Subscript)
            and chain is not None
            and canonical(_full_path(chain, module)) == ASYNC_ITERATOR
        ):
            item = self.expression(node.slice, module, returned=True)
            return f"{self.imports.own('BlockingStream')}[{item}]"
        return self.expression(node, module, returned=True)


def _function_node(fn: object) -> ast.FunctionDef | ast.AsyncFunctionDef:
    assert inspect.isfunction(fn)
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    node = tree.body[0]
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    return node


@dataclass
class _Param:
    text: str
    name: str
    annotation: str | None


def _params(
    writer: Writer, node: ast.FunctionDef | ast.AsyncFunctionDef, module: str
) -> tuple[list[str], list[str], list[_Param]]:
    """The parameters after ``self``: as the signature writes them, as the call passes them."""
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    if not positional or positional[0].arg != "self":
        raise GenerationError(f"{node.name} is not a method taking self")

    def one(arg: ast.arg, default: ast.expr | None, prefix: str = "") -> _Param:
        annotation = None
        if arg.annotation is not None:
            annotation = writer.expression(arg.annotation, module)
        text = prefix + arg.arg
        if annotation is not None:
            text += f": {annotation}"
        if default is not None:
            value = writer.expression(default, module)
            text += f" = {value}" if annotation is not None else f"={value}"
        return _Param(text, arg.arg, annotation)

    signature: list[str] = []
    calls: list[str] = []
    params: list[_Param] = []
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        if i == 0:
            continue
        p = one(arg, default)
        signature.append(p.text)
        calls.append(arg.arg)
        params.append(p)
        if arg in args.posonlyargs and arg is args.posonlyargs[-1]:
            signature.append("/")
    if args.vararg is not None:
        p = one(args.vararg, None, "*")
        signature.append(p.text)
        calls.append(f"*{args.vararg.arg}")
        params.append(p)
    elif args.kwonlyargs:
        signature.append("*")
    for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        p = one(arg, kw_default)
        signature.append(p.text)
        calls.append(f"{arg.arg}={arg.arg}")
        params.append(p)
    if args.kwarg is not None:
        p = one(args.kwarg, None, "**")
        signature.append(p.text)
        calls.append(f"**{args.kwarg.arg}")
        params.append(p)
    return signature, calls, params


def docstring(doc: str, indent: str) -> str:
    """``doc`` as a docstring literal indented by ``indent``."""
    text = doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if text.endswith('"'):
        text = text[:-1] + '\\"'
    lines = text.split("\n")
    if len(lines) == 1:
        return f'{indent}"""{text}"""'
    body = "\n".join(indent + line if line.strip() else "" for line in lines[1:])
    return f'{indent}"""{lines[0]}\n{body}\n{indent}"""'


def _class_doc(twin: Twin, cls: type) -> str:
    """The twin's class docstring: its summary, then the async class's sections, with the
    twin's own ``__init__`` parameters added to ``Args:``."""
    doc = inspect.getdoc(cls) or ""
    sections = re.split(r"\n(?=[A-Z][A-Za-z ]*:\n)", doc)
    out = [twin.summary]
    extras = [f"    {line}" for *_, line in twin.init_extras]
    added = False
    for section in sections[1:]:
        if section.startswith("Args:\n") and extras:
            section = "\n".join([section.rstrip("\n"), *extras])
            added = True
        out.append(section)
    if extras and not added:
        out.append("\n".join(["Args:", *extras]))
    return blocking_doc("\n\n".join(s.strip("\n") for s in out))


def _member(writer: Writer, twin: Twin, name: str, member: object, module: str) -> str:
    """The twin of one public member, as source."""
    kind = kind_of(member)
    doc = inspect.getdoc(member)
    if doc is None:
        raise GenerationError(f"pyecs.{twin.name}.{name} has no docstring")
    doc = blocking_doc(doc)
    wrap = "self._service" if twin.name == "Cluster" else "self._this"
    if kind == "property":
        assert isinstance(member, property)
        node = _function_node(member.fget)
        returns = writer.blocking_return(node.returns, module, "function")
        if returns in writer.twins.values():
            raise GenerationError(f"property {name} returns a {returns}: write it in _base.py")
        read = f"self._async.{name}"
        body = f"return {read}" if name in twin.direct else f"return self._call(lambda: {read})"
        return (
            f"    @property\n    def {name}(self) -> {returns}:\n"
            f"{docstring(doc, ' ' * 8)}\n        {body}\n"
        )
    if kind not in ("coroutine", "function"):
        raise GenerationError(
            f"pyecs.{twin.name}.{name} is a {kind}: write its twin in pyecs/sync/_base.py's "
            f"{twin.base}"
        )
    node = _function_node(member)
    signature, calls, params = _params(writer, node, module)
    returns = writer.blocking_return(node.returns, module, kind)
    lines: list[str] = []
    for p in params:
        if p.name == "timeout" and p.annotation == "float":
            lines.append(f"timeout = {writer.imports.own('check_timeout')}(timeout)")
    call = f"self._async.{name}({', '.join(calls)})"
    if returns.startswith("BlockingStream["):
        result = f"self._stream(lambda: {call})"
    elif kind == "coroutine":
        result = f"self._await(lambda: {call})"
    else:
        result = f"self._call(lambda: {call})"
    if returns == "Service":
        result = f"{wrap}({result})"
    elif re.search(r"\b(Service|Cluster)\b", returns):
        raise GenerationError(
            f"pyecs.{twin.name}.{name} returns {returns}: write its twin in _base.py"
        )
    lines.append(result if returns == "None" else f"return {result}")
    body = "".join(f"        {line}\n" for line in lines)
    return (
        f"    def {name}(self, {', '.join(signature)}) -> {returns}:\n"
        f"{docstring(doc, ' ' * 8)}\n{body}"
    ).replace("(self, )", "(self)")


def _init(writer: Writer, twin: Twin, cls: type) -> str:
    """The twin's ``__init__``: the async class's parameters, then the twin's own."""
    init = vars(cls).get("__init__")
    if not inspect.isfunction(init):
        raise GenerationError(f"pyecs.{twin.name} defines no __init__ of its own")
    node = _function_node(init)
    signature, calls, params = _params(writer, node, init.__module__)
    if any(p.text.startswith("*") for p in params):
        raise GenerationError(f"pyecs.{twin.name}.__init__ takes *args or **kwargs")
    if "*" not in signature:
        signature.append("*")
    for name, annotation, default, _ in twin.init_extras:
        signature.append(f"{name}: {annotation} = {default}")
    writer.imports.need("Mapping", "collections.abc", "Mapping")
    writer.imports.need("Any", "typing", "Any")
    own = ", ".join(f"{n}={n}" for n, *_ in twin.init_extras)
    return (
        f"    def __init__(self, {', '.join(signature)}) -> None:\n"
        f"        super().__init__({writer.imports.own('AsyncCluster')}({', '.join(calls)}), "
        f"service_type=Service, {own})\n"
    )


def _class(writer: Writer, twin: Twin) -> str:
    cls = async_class(twin.name)
    writer.imports.own(twin.base)
    parts = [f"class {twin.name}({twin.bases}):\n{docstring(_class_doc(twin, cls), '    ')}\n"]
    if twin.init_extras:
        parts.append(_init(writer, twin, cls))
    skip = hand_written(twin.base) | set(twin.async_only)
    for name, member in public_members(cls).items():
        if name in skip:
            continue
        fn = member.fget if isinstance(member, property) else member
        module = getattr(fn, "__module__", None)
        if module is None:
            raise GenerationError(f"pyecs.{twin.name}.{name} is neither method nor property")
        parts.append(_member(writer, twin, name, member, module))
    return "\n".join(parts)


HEADER = f'''\
# Generated by scripts/gen_sync.py from pyecs.Cluster and pyecs.Service: do not edit.
# Change the async API (or pyecs/sync/_base.py), then run: {RUN}
"""The blocking twins of :class:`pyecs.Cluster` and :class:`pyecs.Service`.

Every public operation of the async classes, with the same name, parameters, defaults,
annotations and docstring, run in the cluster's event loop through its portal. The
hand-written half (the loop, ``with``, the special cases) is in :mod:`pyecs.sync._base`.
"""

from __future__ import annotations

'''


def _ruff_run(args: list[str], source: str) -> str:
    try:
        return ruff_run(args, source, OUTPUT)
    except RuffError as exc:
        raise GenerationError(str(exc)) from None


def render() -> str:
    """The text ``pyecs/sync/_generated.py`` must have (formatted as ``ruff format`` does)."""
    writer = Writer()
    classes = [_class(writer, twin) for twin in TWINS]
    names = ", ".join(f'"{t.name}"' for t in sorted(TWINS, key=lambda t: t.name))
    source = (
        HEADER + writer.imports.render() + f"\n\n__all__ = [{names}]\n\n\n" + "\n\n".join(classes)
    )
    source = _ruff_run(["check", "--fix", "--select", "I", "--exit-zero", "--quiet"], source)
    return _ruff_run(["format", "--quiet"], source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    options = parser.parse_args(argv)
    try:
        text = render()
    except GenerationError as exc:
        print(f"gen_sync: {exc}", file=sys.stderr)
        return 2
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    if text == current:
        print(f"{OUTPUT.relative_to(ROOT)} is up to date")
        return 0
    if options.check:
        print(f"{OUTPUT.relative_to(ROOT)} is out of date: run {RUN}", file=sys.stderr)
        return 1
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
