import pytest

from i18n import Language
from i18n.negotiation import negotiate_language, parse_accept_language


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, Language.en),
        ("", Language.en),
        ("ru", Language.ru),
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", Language.ru),
        ("en;q=0.4, ru;q=0.8", Language.ru),  # q-values decide, not order
        ("uz", Language.uz),
        ("uz-Latn-UZ", Language.uz),
        ("uz-UZ", Language.uz),
        ("uz-Cyrl", Language.uz_cyrl),
        ("uz-Cyrl-UZ,ru;q=0.5", Language.uz_cyrl),
        ("uz_cyrl", Language.uz_cyrl),
        ("de, fr;q=0.9, ru;q=0.1", Language.ru),  # the best we support
        ("de, fr", Language.en),
        ("ru;q=0, en", Language.en),  # q=0 means "not this one"
        ("ru;q=abc, uz", Language.uz),  # a broken q-value drops only its entry
        ("*", Language.en),
        ("kk, *;q=0.5", Language.en),
        ("ru;q=1.5, uz;q=0.5", Language.uz),  # q over 1 is invalid
    ],
)
def test_header_maps_to_exactly_one_supported_language(header: str | None, expected: Language) -> None:
    assert negotiate_language(header) is expected


def test_equal_quality_keeps_header_order() -> None:
    assert [language for language, _ in parse_accept_language("uz-Cyrl, ru, uz")] == [
        Language.uz_cyrl,
        Language.ru,
        Language.uz,
    ]


def test_profile_language_wins() -> None:
    assert negotiate_language("ru", preferred="uz-Cyrl") is Language.uz_cyrl


def test_absurd_headers_are_survived() -> None:
    assert negotiate_language(",;;;q=,," * 1000) is Language.en
