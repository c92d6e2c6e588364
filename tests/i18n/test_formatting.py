from datetime import UTC, date, datetime

from babel import Locale

from i18n import Language, load_translations
from i18n.formatting import format_date, format_datetime


def test_times_are_shown_in_the_local_time_zone() -> None:
    moment = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)  # 14:30 in Tashkent (UTC+5)
    assert "14:30" in format_datetime(moment, "ru")
    assert "14:30" in format_datetime(moment, "uz")
    assert "2:30" in format_datetime(moment, "en")
    assert "9:30" in format_datetime(moment, "en", time_zone="UTC")


def test_dates_in_each_language() -> None:
    day = date(2026, 3, 8)
    assert format_date(day, "en") == "March 8, 2026"
    assert format_date(day, "ru") == "8 марта 2026\u202fг."  # CLDR puts a narrow no-break space
    assert "mart" in format_date(day, "uz")
    assert "март" in format_date(day, "uz-Cyrl")


def test_the_russian_catalog_plural_rule_agrees_with_cldr_for_whole_numbers() -> None:
    russian = Locale.parse("ru")
    rule = load_translations(Language.ru).plural  # type: ignore[attr-defined]
    forms = {"one": 0, "few": 1, "many": 2}
    for count in range(0, 300):
        assert rule(count) == forms[russian.plural_form(count)], count
