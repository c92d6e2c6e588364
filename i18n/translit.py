"""Uzbek Latin → Cyrillic transliteration, so every Uzbek text also reads in the Cyrillic script.

Follows the 1995 Latin alphabet (oʻ gʻ sh ch, ʼ as the tutuq belgisi) and the Cyrillic
spelling rules: e → э at the start of a word and after a vowel, е elsewhere; yo/yu/ya/ye → ё/ю/я/е.
Placeholders ({name}), URLs, e-mail addresses and the words in KEEP_LATIN stay as they are."""

import re

# Names, codes and literal values that Uzbek Cyrillic texts keep in Latin letters.
KEEP_LATIN = frozenset(
    {
        "CardioAlert",
        "FHIR",
        "HL7",
        "DICOM",
        "WFDB",
        "aECG",
        "XML",
        "CSV",
        "QT",
        "ST",
        "SCORE2",
        "SCORE2-OP",
        "JSON",
        "E.164",
        "API",
        "ISO",
        "UUID",
        "URL",
        "HTTP",
        "PDF",
        "iOS",
        "Android",
        "true",
        "false",
        "null",
    }
)

# Every way people type the oʻ/gʻ mark and the tutuq belgisi.
_APOSTROPHES = "'ʻʼ‘’`"
_VOWELS = set("aeiouAEIOUаеиоуўэюяёАЕИОУЎЭЮЯЁ")

_SINGLE = {
    "a": "а",
    "b": "б",
    "c": "с",
    "d": "д",
    "e": "е",
    "f": "ф",
    "g": "г",
    "h": "ҳ",
    "i": "и",
    "j": "ж",
    "k": "к",
    "l": "л",
    "m": "м",
    "n": "н",
    "o": "о",
    "p": "п",
    "q": "қ",
    "r": "р",
    "s": "с",
    "t": "т",
    "u": "у",
    "v": "в",
    "w": "в",
    "x": "х",
    "y": "й",
    "z": "з",
}
_DIGRAPHS = {"sh": "ш", "ch": "ч", "yo": "ё", "yu": "ю", "ya": "я", "ye": "е"}
_CONSONANTS = set("бвгджзйклмнпрстфхцчшқғҳБВГДЖЗЙКЛМНПРСТФХЦЧШҚҒҲ")

_PROTECTED = re.compile(
    r"\{[^{}]*\}"  # str.format placeholders
    r"|%\([a-z_]+\)[sd]"  # printf-style placeholders
    r"|https?://\S+"  # links
    r"|[\w.+-]+@[\w-]+\.[\w.-]+"  # e-mail addresses
    r"|\b[A-Z][a-z]+/[A-Z][A-Za-z_]+\b"  # time zone names (Asia/Tashkent)
    r"|\b[a-z0-9]+(?:_[a-z0-9]+)+\b"  # snake_case codes (client_credentials)
    r"|\b(?:" + "|".join(re.escape(word) for word in sorted(KEEP_LATIN, key=len, reverse=True)) + r")\b"
)


def _match_case(cyrillic: str, latin: str) -> str:
    return cyrillic.upper() if latin[0].isupper() else cyrillic


def _transliterate_plain(text: str) -> str:
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        low = ch.lower()
        nxt = text[i + 1] if i + 1 < n else ""
        prev_out = out[-1] if out else ""
        at_word_start = not prev_out or not prev_out[-1].isalpha()
        # oʻ and gʻ: the mark belongs to the letter.
        if low in "og" and nxt in _APOSTROPHES:
            out.append(_match_case("ў" if low == "o" else "ғ", ch))
            i += 2
            continue
        # y + oʻ is "йў" (yoʻl → йўл), not "ё" + mark.
        if low == "y" and nxt.lower() == "o" and i + 2 < n and text[i + 2] in _APOSTROPHES:
            out.append(_match_case("й", ch))
            i += 1
            continue
        pair = (ch + nxt).lower()
        if pair == "ye" and prev_out and prev_out[-1] in _CONSONANTS:
            # obyekt → объект: after a consonant the iotated e takes the hard sign.
            out.append(_match_case("ъе", ch) if ch.islower() else "ЪЕ")
            i += 2
            continue
        if pair in _DIGRAPHS:
            out.append(_match_case(_DIGRAPHS[pair], ch))
            i += 2
            continue
        if ch in _APOSTROPHES:
            # The tutuq belgisi between letters is the hard sign (maʼlumot → маълумот).
            if prev_out and prev_out[-1].isalpha() and nxt.isalpha():
                out.append("ъ")
            else:
                out.append(ch)
            i += 1
            continue
        if low == "e":
            after_vowel = bool(prev_out) and prev_out[-1] in _VOWELS
            out.append(_match_case("э" if at_word_start or after_vowel else "е", ch))
            i += 1
            continue
        if low in _SINGLE:
            out.append(_match_case(_SINGLE[low], ch))
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def latin_to_cyrillic(text: str) -> str:
    """Transliterate Uzbek Latin text; protected spans are copied unchanged."""
    parts: list[str] = []
    last = 0
    for match in _PROTECTED.finditer(text):
        parts.append(_transliterate_plain(text[last : match.start()]))
        parts.append(match.group(0))
        last = match.end()
    parts.append(_transliterate_plain(text[last:]))
    return "".join(parts)
