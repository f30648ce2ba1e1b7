"""Scheduled action expressions: ``at(...)``, ``rate(...)`` and ``cron(...)`` in a time zone.

As Application Auto Scaling: ``at(yyyy-mm-ddThh:mm:ss)`` runs once, ``rate(5 minutes)``
every interval from the action's start time (or its creation), and ``cron(minutes hours
day-of-month month day-of-week year)`` at each matching local minute of ``timezone``
(an IANA name). Local times that a daylight-saving change skips do not happen; those it
repeats happen once (the first). Supported cron fields: ``*``, ``?``, numbers, names
(``JAN``, ``MON``), ranges ``a-b``, lists ``a,b`` and steps ``*/n`` / ``a/n``; day of
week 1-7 is SUN-SAT as in AWS. ``L``, ``W`` and ``#`` are refused with a clear error.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo

import attrs

from pyecs.exceptions import InvalidParameterError

__all__ = ["Schedule", "parse_schedule"]

_UTC = datetime.UTC
_RATE_UNITS = {
    "minute": 60,
    "minutes": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86400,
    "days": 86400,
}
_MONTHS = {
    m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())
}
_DAYS = {d: i + 1 for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}
# (low, high, names) per cron field.
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 1, 7, _DAYS),
    ("year", 1970, 2199, {}),
)


def _field(
    text: str, name: str, low: int, high: int, names: dict[str, int]
) -> frozenset[int] | None:
    if text in ("*", "?"):
        return None
    out: set[int] = set()

    def value(v: str) -> int:
        n = names.get(v.upper())
        if n is None:
            if not v.isdigit():
                raise InvalidParameterError(
                    f"cron {name} field {text!r}: {v!r} is not a number"
                    + (" or a name" if names else "")
                    + " (L, W and # are not supported by pyecs)"
                )
            n = int(v)
        if not low <= n <= high:
            raise InvalidParameterError(f"cron {name} field {text!r}: {n} is not in {low}-{high}")
        return n

    for part in text.split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            lo, hi = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            lo, hi = value(a), value(b)
        else:
            lo = value(base)
            hi = high if step else lo
        stride = int(step) if step.isdigit() and int(step) > 0 else (1 if not step else 0)
        if stride == 0:
            raise InvalidParameterError(f"cron {name} field {text!r}: bad step {step!r}")
        out.update(range(lo, hi + 1, stride))
    return frozenset(out)


@attrs.frozen
class Schedule:
    """A parsed schedule; :meth:`next_after` gives the next run after a UTC time."""

    kind: str
    at: datetime.datetime | None = None
    every: float = 0.0
    fields: tuple[frozenset[int] | None, ...] = ()
    zone: zoneinfo.ZoneInfo = attrs.field(factory=lambda: zoneinfo.ZoneInfo("UTC"))

    def next_after(
        self, after: datetime.datetime, origin: datetime.datetime
    ) -> datetime.datetime | None:
        """The first run strictly after ``after`` (UTC); ``origin`` anchors ``rate``."""
        if self.kind == "at":
            assert self.at is not None
            return self.at if self.at > after else None
        if self.kind == "rate":
            if after < origin:
                return origin
            n = int((after - origin).total_seconds() // self.every) + 1
            return origin + datetime.timedelta(seconds=n * self.every)
        return self._next_cron(after)

    def _next_cron(self, after: datetime.datetime) -> datetime.datetime | None:
        minutes, hours, dom, months, dow, years = self.fields
        local = after.astimezone(self.zone)
        day = local.date()
        for _ in range(366 * 5):
            # AWS: day-of-week 1-7 is SUN-SAT; Python's isoweekday is MON=1..SUN=7.
            weekday = day.isoweekday() % 7 + 1
            if (
                (years is None or day.year in years)
                and (months is None or day.month in months)
                and (dom is None or day.day in dom)
                and (dow is None or weekday in dow)
            ):
                for h in sorted(hours) if hours is not None else range(24):
                    for m in sorted(minutes) if minutes is not None else range(60):
                        wall = datetime.datetime(
                            day.year, day.month, day.day, h, m, tzinfo=self.zone
                        )
                        utc = wall.astimezone(_UTC)
                        if utc.astimezone(self.zone).replace(tzinfo=None) != wall.replace(
                            tzinfo=None
                        ):
                            continue  # skipped by a daylight-saving change
                        if utc > after:
                            return utc
            day += datetime.timedelta(days=1)
        return None


def parse_schedule(expression: str, timezone: str | None = None) -> Schedule:
    """Parse an ``at()``, ``rate()`` or ``cron()`` expression.

    Raises:
        InvalidParameterError: saying which part is wrong and what the forms are.
    """
    try:
        zone = zoneinfo.ZoneInfo(timezone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidParameterError(
            f"timezone {timezone!r} is not an IANA time zone (e.g. 'Europe/Paris', 'UTC')"
        ) from None
    text = expression.strip() if isinstance(expression, str) else ""
    m = re.fullmatch(r"(at|rate|cron)\((.*)\)", text)
    if m is None:
        raise InvalidParameterError(
            f"schedule {expression!r} must be at(yyyy-mm-ddThh:mm:ss), rate(value unit) or "
            "cron(minutes hours day-of-month month day-of-week year)"
        )
    kind, body = m.group(1), m.group(2).strip()
    if kind == "at":
        try:
            naive = datetime.datetime.strptime(body, "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise InvalidParameterError(
                f"schedule {expression!r}: at() takes yyyy-mm-ddThh:mm:ss"
            ) from None
        return Schedule("at", at=naive.replace(tzinfo=zone).astimezone(_UTC), zone=zone)
    if kind == "rate":
        parts = body.split()
        if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in _RATE_UNITS:
            raise InvalidParameterError(
                f"schedule {expression!r}: rate() takes a positive integer and minute(s), "
                "hour(s) or day(s), e.g. rate(5 minutes)"
            )
        value = int(parts[0])
        if value < 1 or (value == 1) != parts[1].endswith(("minute", "hour", "day")):
            raise InvalidParameterError(
                f"schedule {expression!r}: use the singular unit for 1 and the plural otherwise"
            )
        return Schedule("rate", every=float(value * _RATE_UNITS[parts[1]]), zone=zone)
    fields = body.split()
    if len(fields) != 6:
        raise InvalidParameterError(
            f"schedule {expression!r}: cron() takes 6 fields (minutes hours day-of-month "
            f"month day-of-week year), got {len(fields)}"
        )
    parsed = tuple(_field(f, *spec) for f, spec in zip(fields, _FIELDS, strict=True))
    if parsed[2] is not None and parsed[4] is not None:
        raise InvalidParameterError(
            f"schedule {expression!r}: give day-of-month or day-of-week, and '?' for the other"
        )
    return Schedule("cron", fields=parsed, zone=zone)
