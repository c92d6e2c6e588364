"""What each kind of notification says, in the reader's language.

Texts are rendered when they are read (inbox) or sent (push), from the notification's params:
`clinic_name` ({"en", "ru", "uz"}), `starts_at` (ISO 8601) and `time_zone` (the clinic's, so
times read as on the clinic's clock), `hours_before` for reminders."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from i18n import N_, NP_, Language, pick_localized, translate
from i18n.formatting import DEFAULT_TIMEZONE, format_clock, format_day
from notifications.models import Category, NotificationKind


@dataclass(frozen=True)
class KindTexts:
    category: Category
    title: str
    body: str | tuple[str, str]


KINDS: dict[NotificationKind, KindTexts] = {
    NotificationKind.booking_confirmed: KindTexts(
        Category.booking_changes,
        N_("ECG booked"),
        N_("Your ECG at {clinic} is booked for {day}, {time}."),
    ),
    NotificationKind.booking_changed: KindTexts(
        Category.booking_changes,
        N_("ECG moved"),
        N_("Your ECG at {clinic} was moved to {day}, {time}."),
    ),
    NotificationKind.booking_cancelled: KindTexts(
        Category.booking_changes,
        N_("ECG cancelled"),
        N_("Your ECG at {clinic} on {day}, {time} was cancelled."),
    ),
    NotificationKind.booking_rejected: KindTexts(
        Category.booking_changes,
        N_("Booking not accepted"),
        N_("{clinic} could not accept your ECG booking for {day}, {time}. Please choose another time."),
    ),
    NotificationKind.booking_reminder: KindTexts(
        Category.reminders,
        N_("ECG reminder"),
        NP_(
            "Your ECG at {clinic} is in {count} hour, at {time}.",
            "Your ECG at {clinic} is in {count} hours, at {time}.",
        ),
    ),
    NotificationKind.ecg_result_ready: KindTexts(
        Category.results,
        N_("ECG result ready"),
        N_("Your ECG result and recommendations are ready. Open the app to read them."),
    ),
}


def category_of(kind: NotificationKind) -> Category:
    return KINDS[kind].category


def _placeholders(params: dict[str, Any], language: Language) -> dict[str, object]:
    values: dict[str, object] = {}
    clinic = params.get("clinic_name")
    if isinstance(clinic, dict):
        values["clinic"] = pick_localized({Language(key): text for key, text in clinic.items()}, language)
    starts_at = params.get("starts_at")
    if isinstance(starts_at, str):
        moment = datetime.fromisoformat(starts_at)
        time_zone = str(params.get("time_zone") or DEFAULT_TIMEZONE)
        values["day"] = format_day(moment, language, time_zone)
        values["time"] = format_clock(moment, language, time_zone)
    if "hours_before" in params:
        values["count"] = int(params["hours_before"])
    return values


def render(kind: NotificationKind, params: dict[str, Any], language: Language | str) -> tuple[str, str]:
    """(title, body) of a notification in `language`."""
    language = Language(language)
    texts = KINDS[kind]
    values = _placeholders(params, language)
    return translate(texts.title, language), translate(texts.body, language, **values)
