"""A faster ``cls(*values)`` for the frozen attrs classes made in hot paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["positional_constructor"]

_C = TypeVar("_C")


def positional_constructor(cls: type[_C]) -> Callable[..., _C]:
    """``cls(*values)`` for a frozen, slotted attrs class whose every field is a plain
    ``__init__`` argument (no validator, converter or hook), about a fifth faster.

    attrs' ``__init__`` of a frozen class sets each field through ``object.__setattr__``,
    which looks the name up again for every field; this sets the slots through their
    descriptors directly, in field order. The runtime makes a snapshot of a task (and of
    its containers) at every change of every task. Any other class gets ``cls`` itself.
    """
    fields = attrs.fields(cls)  # type: ignore[arg-type]
    plain = all(
        a.init and a.converter is None and a.validator is None and a.alias == a.name for a in fields
    )
    hooks = ("__attrs_pre_init__", "__attrs_post_init__", "__attrs_init_subclass__")
    names = [a.name for a in fields]
    # A slot that is no field (attrs' cached hash) would be left unset.
    others = set(vars(cls).get("__slots__", ("?",))) - set(names) - {"__weakref__"}
    if not plain or others or any(hasattr(cls, h) for h in hooks):
        return cls
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    scope.update({f"set_{n}": getattr(cls, n).__set__ for n in names})
    args = ", ".join(names)
    body = "".join(f"    set_{n}(self, {n})\n" for n in names)
    exec(f"def make({args}):\n    self = new(cls)\n{body}    return self\n", scope)
    make: Callable[..., _C] = scope["make"]
    return make
