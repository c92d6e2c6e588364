"""Translations for every user-facing text: gettext catalogs for en, ru and uz (Latin), and
Uzbek in Cyrillic script rendered from the Latin catalog by a tested transliteration.

Code marks texts with `N_` (a no-op, for texts translated later, e.g. error classes) or
translates them at once with `gettext(msgid, locale, **params)`. Placeholders use
str.format names: gettext("Hello, {name}", "ru", name=...)."""

import io
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from i18n.translit import latin_to_cyrillic

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"


class Language(StrEnum):
    """The languages the app speaks, as BCP 47 tags (what Content-Language carries)."""

    en = "en"
    ru = "ru"
    uz = "uz"
    uz_cyrl = "uz-Cyrl"


DEFAULT_LANGUAGE = Language.en
CATALOG_LANGUAGES = (Language.en, Language.ru, Language.uz)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - as N_, for a plural pair
    """Mark a plural pair to translate later with ngettext; the count goes in as {count}."""
    return singular, plural


def babel_locale(language: Language | str) -> str:
    """The Babel/CLDR locale id of a language tag ('uz-Cyrl' → 'uz_Cyrl')."""
    return str(language).replace("-", "_")


@lru_cache
def load_translations(language: Language) -> NullTranslations:
    """Compile the .po catalog in memory, so no generated .mo file needs to be committed."""
    po_path = LOCALES_DIR / str(language) / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=babel_locale(language))
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def _catalog_language(language: Language) -> Language:
    return Language.uz if language is Language.uz_cyrl else language


def _render(text: str, language: Language, params: dict[str, object]) -> str:
    if language is Language.uz_cyrl:
        text = latin_to_cyrillic(text)
    return text.format(**params) if params else text


def gettext(message: str, language: Language | str, /, **params: object) -> str:
    language = Language(language)
    translated = load_translations(_catalog_language(language)).gettext(message)
    return _render(translated, language, params)


def ngettext(singular: str, plural: str, count: int, language: Language | str, /, **params: object) -> str:
    """Plural forms by the catalog's CLDR rule (Russian: one, few, many). `count` is passed
    to the text as {count}."""
    language = Language(language)
    translated = load_translations(_catalog_language(language)).ngettext(singular, plural, count)
    return _render(translated, language, {"count": count, **params})


def pick_localized(texts: dict[Language, str], language: Language | str) -> str:
    """One of a record's own texts (kept per catalog language) in the caller's language; Uzbek
    Cyrillic is rendered from the Uzbek Latin text, English fills any gap."""
    language = Language(language)
    text = texts.get(_catalog_language(language)) or texts.get(DEFAULT_LANGUAGE, "")
    if language is Language.uz_cyrl and texts.get(Language.uz):
        return latin_to_cyrillic(text)
    return text


def translate(message: str | tuple[str, str], language: Language | str, /, **params: object) -> str:
    """A text marked with N_ (a string) or NP_ (a plural pair, counted by params['count'])."""
    if isinstance(message, tuple):
        count = params.pop("count")
        if not isinstance(count, int):
            raise TypeError("a plural text needs an integer count")
        return ngettext(message[0], message[1], count, language, **params)
    return gettext(message, language, **params)
