"""Small checks of public-API arguments, each raising :class:`InvalidParameterError`.

One helper per kind of argument, so that every public call says the same thing about the
same mistake: the parameter's name, the value it got, and what it takes instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Final

from pyecs.exceptions import InvalidParameterError

__all__ = [
    "STARTED_BY_RE",
    "check_seconds",
    "check_started_by",
    "check_str_list",
    "check_tags",
    "check_timeout",
    "shown",
]

#: ECS RunTask ``startedBy``: up to 128 letters, digits, hyphens, forward slashes and
#: underscores (a service's tasks carry its deployment id, ``ecs-svc/...``).
STARTED_BY_RE: Final = re.compile(r"^[A-Za-z0-9/_-]{1,128}$")


def shown(value: object, limit: int = 60, *, typed: bool = True) -> str:
    """``value`` as an error message shows it: its repr (clipped), and its type when that
    helps (``the string '5'``, ``True (a bool)``, ``5 (an int)``).

    Args:
        value: The value.
        limit: The most characters of its repr to show.
        typed: Name the type of a number too; False where any number would do and only
            its value can be wrong (``timeout=nan``).
    """
    try:
        text = repr(value)
    except ValueError:  # an int with more digits than Python prints
        text = f"<an int of {value.bit_length()} bits>" if isinstance(value, int) else "<?>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if isinstance(value, str):
        return f"the string {text}"
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and not typed:
        return text
    kind = type(value).__name__
    return f"{text} ({'an' if kind[:1] in 'aeiou' else 'a'} {kind})"


def _number(value: object) -> float | None:
    """``value`` as a float when it is an int or a float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an int too large for a float: as good as infinite
        return math.inf if value > 0 else -math.inf


def check_timeout(value: object, name: str = "timeout") -> float:
    """A ``timeout`` of a ``wait_<condition>`` call, in seconds.

    Any int or float from 0 up; ``math.inf`` waits without a limit. NaN, negatives, bools,
    strings and None are refused.

    Returns:
        The timeout: an int as given, a float, or ``math.inf`` (also for an int too large
        for a float).

    Raises:
        InvalidParameterError: naming the parameter and the value it got.
    """
    seconds = _number(value)
    if seconds is None or math.isnan(seconds) or seconds < 0:
        raise InvalidParameterError(
            f"{name} must be a number of seconds >= 0 (math.inf waits without a limit), "
            f"got {shown(value, typed=False)}; pass e.g. {name}=30"
        )
    if isinstance(value, int) and not math.isinf(seconds):
        return value  # as given, so that messages say "after 10 s"
    return seconds


def check_seconds(value: object, name: str) -> float:
    """A finite number of seconds >= 0 (a delay or a grace period, never "forever").

    Raises:
        InvalidParameterError: for NaN, infinities, negatives and non-numbers.
    """
    seconds = _number(value)
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise InvalidParameterError(
            f"{name} must be a finite number of seconds >= 0, got {shown(value, typed=False)}"
        )
    return seconds


def check_str_list(value: object, name: str, what: str) -> list[str]:
    """A list (or other iterable) of strings, such as task ARNs.

    A lone string is refused rather than read letter by letter: ``describe_tasks("abc")``
    would otherwise look up the tasks ``a``, ``b`` and ``c``.

    Args:
        value: The argument.
        name: The parameter's name (``tasks``).
        what: What each item is, plural (``task ARNs or ids``).

    Raises:
        InvalidParameterError: naming the parameter, the value, and what it takes.
    """
    if isinstance(value, str | bytes):
        wrapped = f": [{value!r}]" if len(value) <= 60 else ""
        raise InvalidParameterError(
            f"{name} must be a list of {what}, got {shown(value)}; wrap it in a list{wrapped}"
        )
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise InvalidParameterError(f"{name} must be a list of {what}, got {shown(value)}")
    items = list(value)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidParameterError(
                f"{name}[{i}] must be a string (a list of {what}), got {shown(item)}"
            )
    return items


def check_started_by(value: object, name: str = "started_by") -> str | None:
    """ECS ``startedBy``: None, or 1-128 letters, digits, ``-``, ``/`` or ``_``.

    Raises:
        InvalidParameterError: naming the parameter and the value it got.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not STARTED_BY_RE.match(value):
        raise InvalidParameterError(
            f"{name} must be 1-128 letters, digits, hyphens (-), forward slashes (/) or "
            f"underscores (_), got {shown(value)}"
        )
    return value


def check_tags(value: object, name: str = "tags") -> dict[str, str]:
    """Tags given as a mapping, checked by the ECS rules task definitions follow.

    At most 50; keys 1-128 characters, not starting with ``aws:``; values 0-256
    characters; keys and values strings.

    Returns:
        The tags as a new dict (empty for None).

    Raises:
        InvalidParameterError: naming every tag that breaks a rule.
    """
    if value is None:
        return {}
    from pyecs.ecs._validation import tag_problems, unicode_problem

    if not isinstance(value, Mapping):
        raise InvalidParameterError(
            f"{name} must be a mapping of tag keys to values, such as {{'team': 'web'}}, "
            f"got {shown(value)}"
        )
    pairs: list[tuple[str, str]] = []
    for key, tag_value in value.items():
        if not isinstance(key, str) or not isinstance(tag_value, str):
            raise InvalidParameterError(
                f"{name} must map strings to strings, got the key {shown(key)} with the "
                f"value {shown(tag_value)}"
            )
        pairs.append((key, tag_value))
    problems = tag_problems(pairs, lambda i: f"{name}[{pairs[i][0][:40]!r}]", path=name)
    for key, tag_value in pairs:
        for text in (key, tag_value):
            problem = unicode_problem(text, f"{name}[{key[:40]!r}]")
            if problem is not None:
                problems.append(problem)
    if problems:
        raise InvalidParameterError("; ".join(str(p) for p in problems))
    return dict(pairs)
