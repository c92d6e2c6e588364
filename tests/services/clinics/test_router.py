from fastapi.testclient import TestClient
from sqlmodel import Session

from clinics_seed import load_clinics


def test_clinics_are_paged_with_a_cursor(client: TestClient, db: Session) -> None:
    total = len(load_clinics(db).created)
    db.commit()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/clinics", params=params).json()
        seen += [item["slug"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == total
    assert seen == sorted(seen)


def test_clinic_texts_follow_the_language(client: TestClient, db: Session) -> None:
    load_clinics(db)
    db.commit()
    first = client.get("/v1/clinics", params={"limit": 1}).json()["items"][0]
    by_language = {
        language: client.get(f"/v1/clinics/{first['id']}", headers={"Accept-Language": language}).json()
        for language in ("en", "ru", "uz", "uz-Cyrl")
    }
    assert by_language["en"]["city"] == "Andijan"
    assert by_language["ru"]["city"] == "Андижан"
    assert by_language["uz"]["city"] == "Andijon"
    assert by_language["uz-Cyrl"]["city"] == "Андижон"
    assert by_language["ru"]["is_demo"] is True


def test_a_forged_cursor_is_a_clear_error(client: TestClient) -> None:
    response = client.get(
        "/v1/clinics", params={"cursor": "bm90IGEgY3Vyc29y"}, headers={"Accept-Language": "uz"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"
    assert response.json()["title"] == "Sahifa kursori notoʻgʻri"
