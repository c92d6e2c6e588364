"""Accounts over HTTP: registration, sign-in, token rotation, profile, sessions, staff and
hospital clients — against the real database."""

import base64
from datetime import date

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from services.accounts.models import AuthSession, ClinicMembership, Role, User
from services.db import utcnow
from tests.support import PASSWORD, hospital_headers, make_clinic, make_hospital_client, make_user, sign_in

REGISTRATION = {
    "email": "Dilnoza.Karimova@Example.uz",
    "phone": "+998 90 123 45 67",
    "password": PASSWORD,
    "full_name": "Dilnoza Karimova",
    "birth_date": "1978-04-12",
    "sex": "female",
    "preferred_language": "uz",
}


def register(client: TestClient, **overrides: object) -> dict:
    response = client.post("/v1/auth/register", json={**REGISTRATION, **overrides})
    assert response.status_code == 201, response.text
    return response.json()


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_registration_normalises_logins_and_signs_in(client: TestClient, db: Session) -> None:
    tokens = register(client)
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60

    profile = client.get("/v1/me", headers=bearer(tokens)).json()
    assert profile["email"] == "dilnoza.karimova@example.uz"
    assert profile["phone"] == "+998901234567"
    assert profile["role"] == "patient"
    assert profile["birth_date"] == "1978-04-12"
    user = db.exec(select(User).where(User.phone == "+998901234567")).one()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_registration_with_a_taken_login_is_a_conflict_and_writes_nothing(
    client: TestClient, db: Session
) -> None:
    register(client)
    response = client.post(
        "/v1/auth/register",
        json={**REGISTRATION, "email": "DILNOZA.KARIMOVA@example.uz", "phone": None},
        headers={"Accept-Language": "ru"},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "account_exists"
    assert response.json()["title"] == "Учётная запись уже существует"
    assert len(db.exec(select(User)).all()) == 1


def test_registration_needs_email_or_phone(client: TestClient) -> None:
    response = client.post(
        "/v1/auth/register",
        json={"password": PASSWORD, "full_name": "No Login"},
        headers={"Accept-Language": "uz"},
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors == [
        {
            "code": "email_or_phone_required",
            "detail": "Elektron pochta manzili yoki telefon raqamini kiriting.",
            "pointer": "#/",
        }
    ]


def test_registration_refuses_bad_phone_birth_date_and_time_zone(client: TestClient) -> None:
    response = client.post(
        "/v1/auth/register",
        json={
            **REGISTRATION,
            "phone": "90 123 45 67",
            "birth_date": date.today().replace(year=date.today().year + 1).isoformat(),
            "time_zone": "Mars/Olympus",
        },
    )
    assert response.status_code == 422
    codes = {error["pointer"]: error["code"] for error in response.json()["errors"]}
    assert codes == {
        "#/phone": "invalid_phone",
        "#/birth_date": "birth_date_out_of_range",
        "#/time_zone": "invalid_time_zone",
    }


def test_password_equal_to_the_login_is_refused(client: TestClient) -> None:
    response = client.post(
        "/v1/auth/register",
        json={"email": "aziz@example.uz", "password": "aziz@example.uz", "full_name": "A"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "password_too_weak"


def test_login_by_email_or_phone(client: TestClient) -> None:
    register(client)
    for login in ("dilnoza.karimova@example.uz", "+998 90 123-45-67"):
        response = client.post("/v1/auth/login", json={"login": login, "password": PASSWORD})
        assert response.status_code == 200, login
        assert client.get("/v1/me", headers=bearer(response.json())).status_code == 200


def test_wrong_password_and_unknown_account_get_the_same_answer(client: TestClient) -> None:
    register(client)
    wrong = client.post("/v1/auth/login", json={"login": "+998901234567", "password": "not the password"})
    unknown = client.post("/v1/auth/login", json={"login": "+998909999999", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_refresh_rotates_and_the_old_refresh_token_stops_working(client: TestClient) -> None:
    tokens = register(client)
    rotated = client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != tokens["refresh_token"]
    assert client.get("/v1/me", headers=bearer(rotated.json())).status_code == 200


def test_reused_refresh_token_revokes_the_whole_family(client: TestClient, db: Session) -> None:
    tokens = register(client)
    stolen = tokens["refresh_token"]
    legit = client.post("/v1/auth/refresh", json={"refresh_token": stolen}).json()

    # The thief replays the token the owner already used: the session ends for both.
    replay = client.post("/v1/auth/refresh", json={"refresh_token": stolen})
    assert replay.status_code == 401
    assert replay.json()["code"] == "refresh_token_reused"

    assert client.post("/v1/auth/refresh", json={"refresh_token": legit["refresh_token"]}).status_code == 401
    assert client.get("/v1/me", headers=bearer(legit)).status_code == 401
    revoked = db.exec(select(AuthSession)).one()
    assert revoked.revoked_reason == "refresh_token_reused"


def test_unknown_refresh_token_is_refused(client: TestClient) -> None:
    response = client.post("/v1/auth/refresh", json={"refresh_token": "x" * 43})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_refresh_token"


def test_logout_revokes_access_and_refresh_tokens(client: TestClient) -> None:
    tokens = register(client)
    assert client.post("/v1/auth/logout", headers=bearer(tokens)).status_code == 204
    assert client.get("/v1/me", headers=bearer(tokens)).status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_profile_update_changes_only_what_was_sent(client: TestClient) -> None:
    tokens = register(client)
    response = client.patch(
        "/v1/me", json={"preferred_language": "ru", "time_zone": "Asia/Samarkand"}, headers=bearer(tokens)
    )
    assert response.status_code == 200
    profile = response.json()
    assert profile["preferred_language"] == "ru"
    assert profile["time_zone"] == "Asia/Samarkand"
    assert profile["full_name"] == "Dilnoza Karimova"
    assert response.headers["content-language"] == "ru"


def test_a_name_or_time_zone_cannot_be_cleared(client: TestClient) -> None:
    """Found by the API fuzzer: null for a required column was a 500 (NOT NULL violation)."""
    tokens = register(client, birth_date="1990-05-01")
    for field in ("full_name", "time_zone"):
        response = client.patch("/v1/me", json={field: None}, headers=bearer(tokens))
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["pointer"] == f"#/{field}"
    cleared = client.patch("/v1/me", json={"birth_date": None}, headers=bearer(tokens))
    assert cleared.status_code == 200
    assert cleared.json()["birth_date"] is None
    assert cleared.json()["full_name"] == "Dilnoza Karimova"


def test_profile_language_wins_over_accept_language(client: TestClient) -> None:
    tokens = register(client, preferred_language="uz-Cyrl")
    response = client.post(
        "/v1/me/password",
        json={"current_password": "wrong password", "new_password": "another long password"},
        headers={**bearer(tokens), "Accept-Language": "en"},
    )
    assert response.status_code == 403
    assert response.headers["content-language"] == "uz-Cyrl"
    assert response.json()["detail"] == "Жорий парол нотўғри."


def test_password_change_signs_out_other_sessions(client: TestClient) -> None:
    first = register(client)
    second = client.post("/v1/auth/login", json={"login": "+998901234567", "password": PASSWORD}).json()
    response = client.post(
        "/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a new long password"},
        headers=bearer(first),
    )
    assert response.status_code == 204
    assert client.get("/v1/me", headers=bearer(first)).status_code == 200
    assert client.get("/v1/me", headers=bearer(second)).status_code == 401
    relogin = client.post(
        "/v1/auth/login", json={"login": "+998901234567", "password": "a new long password"}
    )
    assert relogin.status_code == 200


def test_sessions_are_listed_and_one_can_be_signed_out(client: TestClient) -> None:
    first = register(client, **{"preferred_language": None})
    second = client.post(
        "/v1/auth/login",
        json={"login": "+998901234567", "password": PASSWORD},
        headers={"User-Agent": "CardioAlert/1.4 (iPhone; iOS 18.1)"},
    ).json()
    sessions = client.get("/v1/me/sessions", headers=bearer(first)).json()
    assert len(sessions) == 2
    assert sum(item["current"] for item in sessions) == 1
    other = next(item for item in sessions if not item["current"])
    assert other["user_agent"] == "CardioAlert/1.4 (iPhone; iOS 18.1)"

    assert client.delete(f"/v1/me/sessions/{other['id']}", headers=bearer(first)).status_code == 204
    assert client.get("/v1/me", headers=bearer(second)).status_code == 401
    assert client.delete(f"/v1/me/sessions/{other['id']}", headers=bearer(first)).status_code == 404


def test_account_deletion_erases_personal_data(client: TestClient, db: Session) -> None:
    tokens = register(client)
    wrong = client.post("/v1/me/deletion", json={"password": "not it at all"}, headers=bearer(tokens))
    assert wrong.status_code == 403
    assert (
        client.post("/v1/me/deletion", json={"password": PASSWORD}, headers=bearer(tokens)).status_code == 204
    )

    # The person's row is gone (with everything that names them: tests/services/privacy).
    assert db.exec(select(User)).all() == []
    assert client.get("/v1/me", headers=bearer(tokens)).status_code == 401
    login = client.post("/v1/auth/login", json={"login": "+998901234567", "password": PASSWORD})
    assert login.status_code == 401
    # The phone number is free again for a new account.
    assert client.post("/v1/auth/register", json=REGISTRATION).status_code == 201


def test_admin_creates_staff_bound_to_clinics(client: TestClient, db: Session) -> None:
    clinic = make_clinic(db)
    admin = make_user(db, Role.admin)
    response = client.post(
        "/v1/admin/staff",
        json={
            "role": "clinician",
            "email": "doctor@clinic.example.uz",
            "full_name": "Dr. Rustam Aliev",
            "password": "initial password 2026",
            "clinic_ids": [str(clinic.id), str(clinic.id)],
        },
        headers=sign_in(db, admin),
    )
    assert response.status_code == 201, response.text
    assert response.json()["clinic_ids"] == [str(clinic.id)]
    login = client.post(
        "/v1/auth/login", json={"login": "doctor@clinic.example.uz", "password": "initial password 2026"}
    )
    assert login.status_code == 200


def test_staff_creation_with_an_unknown_clinic_writes_nothing(client: TestClient, db: Session) -> None:
    clinic = make_clinic(db)
    admin = make_user(db, Role.admin)
    response = client.post(
        "/v1/admin/staff",
        json={
            "role": "clinic_staff",
            "email": "reception@clinic.example.uz",
            "full_name": "Malika Yusupova",
            "password": "initial password 2026",
            "clinic_ids": [str(clinic.id), "00000000-0000-4000-8000-000000000000"],
        },
        headers=sign_in(db, admin),
    )
    assert response.status_code == 404
    assert response.json()["code"] == "clinic_not_found"
    assert db.exec(select(User).where(User.email == "reception@clinic.example.uz")).first() is None
    assert db.exec(select(ClinicMembership)).all() == []


def test_only_admins_create_staff(client: TestClient, db: Session) -> None:
    patient = make_user(db)
    response = client.post(
        "/v1/admin/staff",
        json={"role": "admin", "email": "me@example.uz", "full_name": "Me", "password": "a long password"},
        headers=sign_in(db, patient),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "role_not_allowed"


def test_hospital_client_credentials_grant(client: TestClient, db: Session) -> None:
    clinic = make_clinic(db)
    admin = make_user(db, Role.admin)
    created = client.post(
        "/v1/admin/hospital-clients",
        json={"name": "Clinic HIS", "clinic_id": str(clinic.id)},
        headers=sign_in(db, admin),
    ).json()

    basic = base64.b64encode(f"{created['client_id']}:{created['client_secret']}".encode()).decode()
    by_header = client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    by_form = client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": created["client_id"],
            "client_secret": created["client_secret"],
        },
    )
    for response in (by_header, by_form):
        assert response.status_code == 200, response.text
        me = client.get("/v1/hospital/me", headers=bearer(response.json()))
        assert me.status_code == 200
        assert me.json()["clinic_id"] == str(clinic.id)


def test_wrong_client_secret_and_wrong_grant_are_refused(client: TestClient, db: Session) -> None:
    hospital, _ = make_hospital_client(db, make_clinic(db))
    wrong = client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": hospital.client_id, "client_secret": "guess"},
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_client"
    assert wrong.json()["error"] == "invalid_client"  # RFC 6749 §5.2 member, for OAuth libraries
    grant = client.post("/v1/auth/token", data={"grant_type": "password"})
    assert grant.status_code == 400
    assert grant.json()["code"] == "unsupported_grant_type"


def test_revoked_hospital_client_token_stops_working(client: TestClient, db: Session) -> None:
    hospital, _ = make_hospital_client(db, make_clinic(db))
    headers = hospital_headers(hospital)
    assert client.get("/v1/hospital/me", headers=headers).status_code == 200
    hospital.revoked_at = utcnow()
    db.add(hospital)
    db.commit()
    assert client.get("/v1/hospital/me", headers=headers).status_code == 401
