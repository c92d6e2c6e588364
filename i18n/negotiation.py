"""Choose the response language from an Accept-Language header (RFC 9110 §12.5.4).

Babel's negotiate_locale ignores q-values and folds uz-Cyrl into Latin uz, so the header is
parsed here and every tag is mapped to exactly one of en, ru, uz, uz-Cyrl."""

from i18n import DEFAULT_LANGUAGE, Language

MAX_HEADER_LENGTH = 1000


def language_for_tag(tag: str) -> Language | None:
    subtags = tag.strip().lower().replace("_", "-").split("-")
    primary = subtags[0]
    if primary == "en":
        return Language.en
    if primary == "ru":
        return Language.ru
    if primary == "uz":
        return Language.uz_cyrl if "cyrl" in subtags[1:] else Language.uz
    return None


def _quality(params: list[str]) -> float | None:
    for param in params:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                return None
            return quality if 0.0 <= quality <= 1.0 else None
    return 1.0


def parse_accept_language(header: str | None) -> list[tuple[Language, float]]:
    """Supported languages in the header, best first; equal q-values keep header order."""
    if not header:
        return []
    candidates: list[tuple[float, int, Language]] = []
    for position, item in enumerate(header[:MAX_HEADER_LENGTH].split(",")):
        tag, *params = item.split(";")
        quality = _quality(params)
        if quality is None or quality == 0.0:
            continue
        language = DEFAULT_LANGUAGE if tag.strip() == "*" else language_for_tag(tag)
        if language is not None:
            candidates.append((quality, position, language))
    candidates.sort(key=lambda c: (-c[0], c[1]))
    seen: list[tuple[Language, float]] = []
    for quality, _, language in candidates:
        if all(language is not known for known, _ in seen):
            seen.append((language, quality))
    return seen


def negotiate_language(header: str | None, preferred: Language | str | None = None) -> Language:
    """The profile's language when there is one, else the header's best, else English."""
    if preferred:
        return Language(preferred)
    ranked = parse_accept_language(header)
    return ranked[0][0] if ranked else DEFAULT_LANGUAGE
