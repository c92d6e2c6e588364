"""Turning a weekly schedule on the clinic's clock into slot times in UTC. Pure functions.

Local times are resolved in the clinic's zone day by day, so a 09:00 slot stays at 09:00 on the
clinic's clock across a daylight-saving change (its UTC time moves). A local time that does not
exist (the hour skipped in spring) yields no slot; an ambiguous one (the hour repeated in
autumn) is taken at its first occurrence."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WeeklyRule:
    weekday: int  # Monday 0 … Sunday 6
    start: time
    end: time

    @classmethod
    def from_json(cls, rule: dict[str, Any]) -> "WeeklyRule":
        return cls(int(rule["weekday"]), parse_clock(rule["start"]), parse_clock(rule["end"]))

    def overlaps(self, other: "WeeklyRule") -> bool:
        return self.weekday == other.weekday and self.start < other.end and other.start < self.end


def parse_clock(value: str) -> time:
    """'08:30' → 08:30; '24:00' → the end of the day (time.max)."""
    if value == "24:00":
        return time.max
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def local_to_utc(day: date, clock: time, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a wall-clock time, or None when that time is skipped by DST."""
    local = datetime.combine(day, clock, tzinfo=zone)
    in_utc = local.astimezone(UTC)
    if in_utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return in_utc


def days_between(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def slot_times(
    rules: Sequence[WeeklyRule],
    slot_minutes: int,
    time_zone: str,
    first_day: date,
    last_day: date,
) -> list[tuple[datetime, datetime]]:
    """(start, end) in UTC of every slot the rules give between two days, both included."""
    zone = ZoneInfo(time_zone)
    length = timedelta(minutes=slot_minutes)
    times: list[tuple[datetime, datetime]] = []
    for day in days_between(first_day, last_day):
        for rule in sorted((r for r in rules if r.weekday == day.weekday()), key=lambda r: r.start):
            cursor = datetime.combine(day, rule.start)
            end = (
                datetime.combine(day, rule.end)
                if rule.end != time.max
                else datetime.combine(day, time()) + timedelta(days=1)
            )
            while cursor + length <= end:
                start = local_to_utc(cursor.date(), cursor.time(), zone)
                if start is not None:
                    times.append((start, start + length))
                cursor += length
    return times
