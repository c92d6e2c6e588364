import pytest

from i18n.translit import latin_to_cyrillic


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [
        ("Oʻzbekiston", "Ўзбекистон"),
        ("Toshkent", "Тошкент"),
        ("Samarqand", "Самарқанд"),
        ("Fargʻona", "Фарғона"),
        ("shifokor", "шифокор"),
        ("choy", "чой"),
        ("yurak", "юрак"),
        ("hayot", "ҳаёт"),
        ("yoʻl", "йўл"),
        ("qoʻngʻiroq", "қўнғироқ"),
        ("maʼlumot", "маълумот"),
        ("taʼlim", "таълим"),
        ("ertaga", "эртага"),
        ("elektrokardiogramma", "электрокардиограмма"),
        ("aeroport", "аэропорт"),
        ("yetti", "етти"),
        ("obyekt", "объект"),
        ("tayyor", "тайёр"),
        ("xat", "хат"),
        ("SHAHAR", "ШАҲАР"),
        ("Shahar", "Шаҳар"),
        ("O'zbekiston", "Ўзбекистон"),  # typed with a plain apostrophe
        ("o‘zbek", "ўзбек"),  # typed with U+2018
    ],
)
def test_words(latin: str, cyrillic: str) -> None:
    assert latin_to_cyrillic(latin) == cyrillic


def test_placeholders_codes_and_addresses_stay_latin() -> None:
    kept = "https://cardioalert.app/x info@clinic.example.uz Asia/Tashkent client_credentials"
    assert latin_to_cyrillic(f"{{count}} daqiqadan soʻng {kept}") == f"{{count}} дақиқадан сўнг {kept}"


def test_sentence() -> None:
    assert (
        latin_to_cyrillic("Iltimos, keyinroq qayta urinib koʻring.")
        == "Илтимос, кейинроқ қайта уриниб кўринг."
    )
