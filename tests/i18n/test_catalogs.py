"""Every text the code marks for users has a real Russian and Uzbek translation, and renders in
Uzbek Cyrillic."""

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from i18n import LOCALES_DIR, Language, gettext, ngettext
from i18n.translit import KEEP_LATIN, latin_to_cyrillic

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ["services", "booking", "ecg_ml", "notifications", "i18n", "clinics_seed"]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "NP_": (1, 2)}
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]  # as i18n/babel.cfg
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def extracted_messages() -> dict[str, str | None]:
    """msgid → plural msgid (or None), straight from the source code."""
    found: dict[str, str | None] = {}
    for directory in SOURCE_DIRS:
        path = PROJECT_ROOT / directory
        if not path.exists():
            continue
        for _, _, message, _, _ in extract_from_dir(
            str(path), method_map=METHODS, keywords=KEYWORDS, comment_tags=()
        ):
            if isinstance(message, tuple):
                found[message[0]] = message[1]
            else:
                found[message] = None
    return found


MESSAGES = extracted_messages()


def catalog(language: str):  # type: ignore[no-untyped-def]
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


def test_the_code_has_texts_to_translate() -> None:
    assert len(MESSAGES) > 50


@pytest.mark.parametrize("language", ["ru", "uz"])
def test_every_message_has_a_real_translation(language: str) -> None:
    translations = catalog(language)
    problems = []
    for msgid, plural in MESSAGES.items():
        entry = translations.get((msgid, plural) if plural else msgid) or translations.get(msgid)
        if entry is None:
            problems.append(f"missing: {msgid!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(strings):
            problems.append(f"untranslated: {msgid!r}")
        elif any(text in (msgid, plural) for text in strings):
            problems.append(f"left in English: {msgid!r}")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
    assert problems == [], f"{language}: run `make i18n`, then translate:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", ["ru", "uz"])
def test_translations_keep_the_placeholders(language: str) -> None:
    translations = catalog(language)
    for msgid, plural in MESSAGES.items():
        entry = translations.get(msgid)
        if entry is None:
            continue
        expected = set(PLACEHOLDER.findall(msgid)) | set(PLACEHOLDER.findall(plural or ""))
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == expected, (language, msgid, text)


def test_russian_translations_are_cyrillic_and_uzbek_latin() -> None:
    for msgid in MESSAGES:
        russian = gettext(msgid, Language.ru)
        uzbek = gettext(msgid, Language.uz)
        assert re.search("[а-яё]", russian, re.IGNORECASE), msgid
        assert not re.search("[а-яё]", uzbek, re.IGNORECASE), msgid


def test_every_uzbek_text_renders_in_cyrillic_without_stray_latin_words() -> None:
    allowed = {"true", "false", "API", "JSON", "ISO", "UUID", "YYYY"}
    for msgid in MESSAGES:
        rendered = gettext(msgid, Language.uz_cyrl)
        unprotected = PLACEHOLDER.sub("", rendered)
        unprotected = re.sub(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b|\b[A-Z][a-z]+/[A-Z][A-Za-z_]+\b", "", unprotected)
        for word in KEEP_LATIN:  # names and codes kept in Latin letters on purpose
            unprotected = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", "", unprotected)
        leftovers = set(LATIN_WORD.findall(unprotected)) - allowed
        assert leftovers == set(), (msgid, rendered)
        assert rendered == latin_to_cyrillic(gettext(msgid, Language.uz))


def test_plural_catalog_entries_follow_cldr() -> None:
    singular = "Too many attempts. Try again in {count} minute."
    plural = "Too many attempts. Try again in {count} minutes."
    expected_ru = {
        1: "минуту",
        2: "минуты",
        4: "минуты",
        5: "минут",
        11: "минут",
        12: "минут",
        21: "минуту",
        22: "минуты",
        25: "минут",
        101: "минуту",
        111: "минут",
    }
    for count, word in expected_ru.items():
        assert ngettext(singular, plural, count, "ru").endswith(f"{count} {word}."), count
    assert ngettext(singular, plural, 1, "en").endswith("1 minute.")
    assert ngettext(singular, plural, 3, "en").endswith("3 minutes.")
    assert "3 daqiqadan" in ngettext(singular, plural, 3, "uz")
