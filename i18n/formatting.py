"""Dates, times and numbers for people: in their language and in the relevant time zone."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.dates import format_skeleton, format_time
from babel.numbers import format_decimal
from babel.numbers import format_percent as format_percent_babel

from i18n import Language, babel_locale

DEFAULT_TIMEZONE = "Asia/Tashkent"


def format_datetime(
    value: datetime, language: Language | str, time_zone: str = DEFAULT_TIMEZONE, style: str = "medium"
) -> str:
    if value.tzinfo is None:
        raise ValueError("format_datetime needs an aware datetime")
    return babel_format_datetime(value, style, tzinfo=ZoneInfo(time_zone), locale=babel_locale(language))


def format_date(value: date, language: Language | str, style: str = "long") -> str:
    return babel_format_date(value, style, locale=babel_locale(language))


def format_number(value: float, language: Language | str, decimals: int = 1) -> str:
    return format_decimal(round(value, decimals), locale=babel_locale(language))


def format_day(value: datetime, language: Language | str, time_zone: str = DEFAULT_TIMEZONE) -> str:
    """Day and month as people say them: 'March 5', '5 марта', '5-mart'."""
    return format_skeleton("MMMMd", value.astimezone(ZoneInfo(time_zone)), locale=babel_locale(language))


def format_clock(value: datetime, language: Language | str, time_zone: str = DEFAULT_TIMEZONE) -> str:
    """The time of day in the locale's short form: '2:30 PM', '14:30'."""
    return format_time(value, "short", tzinfo=ZoneInfo(time_zone), locale=babel_locale(language))


def format_percent(share: float, language: Language | str) -> str:
    """A share 0..1 as a whole percentage in the locale's style: '87%', '87 %'."""
    return format_percent_babel(share, locale=babel_locale(language))
