"""HTML forms into the API's own input models (booking.schemas), and their validation errors
into messages next to the fields, in the reader's language. The models keep the rules (end
after start, ranges); this only maps names and texts."""

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from booking.models import Schedule
from booking.schemas import ExceptionCreate, ScheduleCreate
from i18n import N_, Language, gettext
from services.errors import FALLBACK_VALIDATION_MESSAGE, VALIDATION_MESSAGES

M = TypeVar("M", bound=BaseModel)
INTERVALS_PER_DAY = 2  # morning and afternoon, as clinics open
END_BEFORE_START = N_("The end must be after the start.")
CLOCK_FORMAT = N_("Enter a time as HH:MM.")
NO_OPENING_HOURS = N_("Give at least one opening time.")
LAST_DAY_BEFORE_FIRST = N_("The last day cannot be before the first day.")
DATE_FORMAT = VALIDATION_MESSAGES["date_parsing"]
# Texts for the errors our models raise under their own names (booking.schemas).
FORM_MESSAGES = {"end_before_start": END_BEFORE_START, "invalid_clock_time": CLOCK_FORMAT}


@dataclass
class FormState:
    """What a form shows: the values as typed and a message per field ("" for the whole form)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str:
        return self.values.get(name, "")


def _message(item: dict[str, Any], language: Language) -> str:
    kind = str(item.get("type", ""))
    if kind in FORM_MESSAGES:
        return gettext(FORM_MESSAGES[kind], language)
    context = {key: str(value) for key, value in (item.get("ctx") or {}).items()}
    try:
        return gettext(VALIDATION_MESSAGES.get(kind, FALLBACK_VALIDATION_MESSAGE), language, **context)
    except (KeyError, IndexError):
        return gettext(FALLBACK_VALIDATION_MESSAGE, language)


def texts(form: FormData) -> dict[str, str]:
    return {name: value.strip() for name, value in form.items() if isinstance(value, str)}


def rule_field(weekday: int, interval: int) -> str:
    return f"rule-{weekday}-{interval}"


def schedule_state(schedule: Schedule | None, today: date) -> FormState:
    """The form of a new schedule (a working week's mornings), or of one being changed."""
    if schedule is None:
        values = {"service": "ecg", "slot_minutes": "15", "capacity": "1", "valid_from": today.isoformat()}
        rules = [{"weekday": day, "start": "09:00", "end": "13:00"} for day in range(5)]
    else:
        values = {
            "resource_id": str(schedule.resource_id),
            "service": str(schedule.service),
            "slot_minutes": str(schedule.slot_minutes),
            "capacity": str(schedule.capacity),
            "valid_from": max(today, schedule.valid_from).isoformat(),
            "valid_until": schedule.valid_until.isoformat() if schedule.valid_until else "",
        }
        rules = schedule.rules
    used: dict[int, int] = {}
    for rule in sorted(rules, key=lambda r: (r["weekday"], r["start"])):
        weekday = int(rule["weekday"])
        interval = used.get(weekday, 0)
        if interval < INTERVALS_PER_DAY:
            values[rule_field(weekday, interval) + "-start"] = str(rule["start"])
            values[rule_field(weekday, interval) + "-end"] = str(rule["end"])
            used[weekday] = interval + 1
    return FormState(values)


def _validated(
    model: type[M], payload: dict[str, Any], state: FormState, fields: dict[Any, str], language: Language
) -> M | None:
    """The model, or None with the messages put on the form's fields (`fields` maps an error's
    location to a field; the model's own whole-object errors go to fields[()])."""
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        for item in error.errors():
            location = tuple(item.get("loc", ()))
            name = fields.get(location, fields.get(location[:1], location[0] if location else ""))
            state.errors.setdefault(str(name), _message(dict(item), language))
        return None


def parse_schedule(form: FormData, language: Language) -> tuple[ScheduleCreate | None, FormState]:
    state = FormState(texts(form))
    rules: list[dict[str, Any]] = []
    fields: dict[Any, str] = {(): "period"}
    for weekday in range(7):
        for interval in range(INTERVALS_PER_DAY):
            name = rule_field(weekday, interval)
            start, end = state.value(name + "-start"), state.value(name + "-end")
            if start or end:
                fields[("rules", len(rules))] = name
                rules.append({"weekday": weekday, "start": start, "end": end})
    payload = {
        "resource_id": state.value("resource_id") or None,
        "service": state.value("service"),
        "rules": rules,
        "slot_minutes": state.value("slot_minutes"),
        "capacity": state.value("capacity"),
        "valid_from": state.value("valid_from"),
        "valid_until": state.value("valid_until") or None,
    }
    if not rules:
        state.errors["rules"] = gettext(NO_OPENING_HOURS, language)
    data = _validated(ScheduleCreate, payload, state, fields, language)
    if state.errors.pop("period", None):
        state.errors.setdefault("valid_until", gettext(LAST_DAY_BEFORE_FIRST, language))
    return (data if not state.errors else None), state


def _local_moment(state: FormState, prefix: str, zone: ZoneInfo, language: Language) -> datetime | None:
    try:
        day = date.fromisoformat(state.value(prefix + "_date"))
    except ValueError:
        state.errors.setdefault(prefix, gettext(DATE_FORMAT, language))
        return None
    try:
        clock = time.fromisoformat(state.value(prefix + "_time") or "00:00")
    except ValueError:
        state.errors.setdefault(prefix, gettext(CLOCK_FORMAT, language))
        return None
    return datetime.combine(day, clock, tzinfo=zone)


def exception_state(today: date) -> FormState:
    return FormState(
        {
            "starts_date": today.isoformat(),
            "starts_time": "00:00",
            "ends_date": today.isoformat(),
            "ends_time": "23:59",
        }
    )


def parse_exception(
    form: FormData, time_zone: str, language: Language
) -> tuple[ExceptionCreate | None, FormState]:
    """A closure typed on the clinic's clock."""
    state = FormState(texts(form))
    zone = ZoneInfo(time_zone)
    starts_at = _local_moment(state, "starts", zone, language)
    ends_at = _local_moment(state, "ends", zone, language)
    payload = {
        "resource_id": state.value("resource_id") or None,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "reason": state.value("reason"),
        "on_bookings": state.value("on_bookings") or None,
    }
    fields: dict[Any, str] = {(): "ends", ("starts_at",): "starts", ("ends_at",): "ends"}
    data = _validated(ExceptionCreate, payload, state, fields, language)
    return (data if not state.errors else None), state
