"""The risk test through the API on real PostgreSQL: the anonymous calculator, the questionnaire
as data, assessments (red flags, refusals that store nothing, idempotent retries), history with
its trend, and the category the ECG analysis reads."""

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from services.db import utcnow
from services.risk import questionnaire, units
from services.risk.models import RiskAssessment
from services.risk.service import latest_category
from services.studies import tasks
from services.studies.models import StudyStatus
from tests.services.studies.support import make_analysed_study
from tests.support import make_user, sign_in

CALCULATOR = "/v1/risk/score2"
ASSESSMENTS = "/v1/risk/assessments"

# SCORE2 paper (Eur Heart J 2021;42:2439), abstract: this man has 14.0 % in very-high-risk countries.
ABSTRACT_MAN = {
    "age": 50,
    "sex": "male",
    "smoking": True,
    "systolic_bp": 140,
    "total_cholesterol": 5.5,
    "hdl_cholesterol": 1.3,
}

HEALTHY_ANSWERS: dict[str, Any] = {
    "chest_pain_at_rest": False,
    "fainting": False,
    "severe_breathlessness": False,
    "age": 50,
    "sex": "male",
    "cardiovascular_disease": False,
    "diabetes": False,
    "smoking": True,
    "systolic_bp": 140,
    "bp_treated": False,
    "cholesterol_known": True,
    "cholesterol_unit": "mmol/L",
    "total_cholesterol": 5.5,
    "hdl_cholesterol": 1.3,
}


def _submit(
    client: TestClient, headers: dict[str, str], answers: dict[str, Any], version: int = 1, **extra: str
):  # type: ignore[no-untyped-def]
    return client.post(
        ASSESSMENTS,
        json={"questionnaire_version": version, "answers": answers},
        headers={**headers, "Idempotency-Key": str(uuid.uuid4()), **extra},
    )


def _stored(db: Session) -> list[RiskAssessment]:
    return list(db.exec(select(RiskAssessment)).all())


# ------------------------------------------------------------------ calculator


def test_the_calculator_answers_anonymous_callers_with_the_published_value(client: TestClient) -> None:
    response = client.post(CALCULATOR, json=ABSTRACT_MAN)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "ten_year_risk_percent": 14.0,
        "category": "very_high",
        "category_text": "Very high risk",
        "model": "SCORE2",
        "region": "very_high",
    }


def test_the_calculator_takes_the_region_and_mg_dl(client: TestClient) -> None:
    # Same man in mg/dL (5.5 and 1.3 mmol/L x 38.67) in a low-risk country: 5.9 % (abstract).
    body = {**ABSTRACT_MAN, "total_cholesterol": 212.7, "hdl_cholesterol": 50.27, "cholesterol_unit": "mg/dL"}
    response = client.post(CALCULATOR, json={**body, "region": "low"})
    assert response.json()["ten_year_risk_percent"] == 5.9
    assert response.json()["category"] == "high"


def test_the_calculator_uses_score2_op_from_70(client: TestClient) -> None:
    response = client.post(CALCULATOR, json={**ABSTRACT_MAN, "age": 75})
    assert response.json()["model"] == "SCORE2-OP"


def test_a_mg_dl_value_sent_as_mmol_l_is_caught_and_explained(client: TestClient) -> None:
    response = client.post(CALCULATOR, json={**ABSTRACT_MAN, "total_cholesterol": 200})
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid_risk_input"
    assert problem["errors"] == [
        {"pointer": "#/total_cholesterol", "code": "unit_mismatch", "detail": problem["detail"]}
    ]
    assert "Total cholesterol 200 mmol/L looks like a value in mg/dL" in problem["detail"]


def test_a_mmol_l_value_sent_as_mg_dl_is_caught_in_russian(client: TestClient) -> None:
    body = {**ABSTRACT_MAN, "total_cholesterol": 5.2, "hdl_cholesterol": 50, "cholesterol_unit": "mg/dL"}
    response = client.post(CALCULATOR, json=body, headers={"Accept-Language": "ru"})
    assert response.status_code == 422
    entry = response.json()["errors"][0]
    assert entry["pointer"] == "#/total_cholesterol"
    assert entry["code"] == "unit_mismatch"
    assert "ммоль/л" in entry["detail"]
    assert response.headers["Content-Language"] == "ru"


def test_impossible_values_are_refused_naming_each_field(client: TestClient) -> None:
    body = {**ABSTRACT_MAN, "age": 35, "systolic_bp": 400, "total_cholesterol": 0}
    response = client.post(CALCULATOR, json=body, headers={"Accept-Language": "uz"})
    assert response.status_code == 422
    entries = {entry["pointer"]: entry for entry in response.json()["errors"]}
    assert set(entries) == {"#/age", "#/systolic_bp", "#/total_cholesterol"}
    assert entries["#/age"]["code"] == "out_of_model_range"
    assert entries["#/systolic_bp"]["code"] == "out_of_range"
    assert "300" in entries["#/systolic_bp"]["detail"]


def test_hdl_above_total_is_refused(client: TestClient) -> None:
    response = client.post(
        CALCULATOR, json={**ABSTRACT_MAN, "total_cholesterol": 3.0, "hdl_cholesterol": 3.5}
    )
    assert response.json()["errors"][0]["pointer"] == "#/hdl_cholesterol"


# ------------------------------------------------------------------ questionnaire


def test_the_questionnaire_is_served_in_the_callers_language(client: TestClient) -> None:
    response = client.get("/v1/risk/questionnaire", headers={"Accept-Language": "uz"})
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == questionnaire.current().version
    by_id = {question["id"]: question for question in body["questions"]}
    assert by_id["smoking"]["text"] == "Chekasizmi (sigaret, kalyan yoki elektron sigaret)?"
    assert [q["id"] for q in body["questions"] if q["red_flag"]] == [
        "chest_pain_at_rest",
        "fainting",
        "severe_breathlessness",
    ]
    assert by_id["total_cholesterol"]["show_if"] == [{"question": "cholesterol_known", "equals": True}]


def test_the_questionnaires_cholesterol_ranges_are_the_servers() -> None:
    current = questionnaire.current()
    for name in units.CHOLESTEROL_RANGES:
        question = current.question(name)
        assert question is not None and question.ranges is not None
        for unit in units.CholesterolUnit:
            shown = question.ranges[unit.value]
            assert (shown.min, shown.max) == units.cholesterol_range(name, unit)


# ------------------------------------------------------------------ assessments


def test_an_assessment_is_scored_stored_and_explained(client: TestClient, db: Session) -> None:
    patient = make_user(db)
    response = _submit(client, sign_in(db, patient), HEALTHY_ANSWERS)
    assert response.status_code == 201, response.text
    result = response.json()["result"]
    assert result["model"] == "SCORE2"
    assert result["ten_year_risk_percent"] == 14.0
    assert result["category"] == "very_high"
    assert result["top_factors"][0]["code"] == "smoking"
    codes = [item["code"] for item in result["recommendations"]]
    assert codes[:2] == ["stop_smoking", "blood_pressure"]
    assert {"ldl_target", "see_cardiologist", "book_ecg"} <= set(codes)
    book = next(item for item in result["recommendations"] if item["code"] == "book_ecg")
    assert book["link"] == "/v1/clinics?service=ecg"
    [stored] = _stored(db)
    assert stored.patient_id == patient.id
    assert stored.questionnaire_version == 1
    assert stored.answers["total_cholesterol"] == 5.5
    assert latest_category(db, patient.id) == "very_high"


def test_the_result_reads_in_russian(client: TestClient, db: Session) -> None:
    headers = sign_in(db, make_user(db))
    response = _submit(client, headers, HEALTHY_ANSWERS, **{"Accept-Language": "ru"})
    result = response.json()["result"]
    assert result["category_text"] == "Очень высокий риск"
    assert all(item["text"] and item["text"].isascii() is False for item in result["recommendations"])


def test_a_red_flag_short_circuits_to_urgent_care(client: TestClient, db: Session) -> None:
    # Only the red flags are answered: the rest is not asked once one is yes.
    answers = {"chest_pain_at_rest": True, "fainting": False, "severe_breathlessness": False}
    response = _submit(client, sign_in(db, make_user(db)), answers)
    assert response.status_code == 201, response.text
    result = response.json()["result"]
    assert result["urgent"] is True
    assert result["ten_year_risk_percent"] is None
    assert [item["code"] for item in result["recommendations"]] == ["urgent_care"]
    assert "103" in result["recommendations"][0]["text"]


def test_a_red_flag_wins_over_any_score(client: TestClient, db: Session) -> None:
    answers = {**HEALTHY_ANSWERS, "severe_breathlessness": True}
    result = _submit(client, sign_in(db, make_user(db)), answers).json()["result"]
    assert result["urgent"] is True
    assert result["category"] is None


def test_without_laboratory_values_the_framingham_bmi_model_is_used(client: TestClient, db: Session) -> None:
    answers = {k: v for k, v in HEALTHY_ANSWERS.items() if "cholesterol" not in k}
    answers |= {"cholesterol_known": False, "height_cm": 175, "weight_kg": 82.7}
    response = _submit(client, sign_in(db, make_user(db)), answers)
    assert response.status_code == 201, response.text
    result = response.json()["result"]
    assert result["model"] == "Framingham-BMI 2008"
    assert result["region"] is None
    assert "measure_cholesterol" in [item["code"] for item in result["recommendations"]]


def test_a_height_in_metres_is_caught(client: TestClient, db: Session) -> None:
    answers = {k: v for k, v in HEALTHY_ANSWERS.items() if "cholesterol" not in k}
    answers |= {"cholesterol_known": False, "height_cm": 1.75, "weight_kg": 80}
    response = _submit(client, sign_in(db, make_user(db)), answers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/answers/height_cm"
    assert response.json()["errors"][0]["code"] == "unit_mismatch"


def test_missing_and_bad_answers_are_refused_and_nothing_is_stored(client: TestClient, db: Session) -> None:
    answers = {**HEALTHY_ANSWERS, "systolic_bp": 400, "surprise": 1}
    del answers["sex"]
    response = _submit(client, sign_in(db, make_user(db)), answers, **{"Accept-Language": "ru"})
    assert response.status_code == 422
    entries = {entry["pointer"]: entry["code"] for entry in response.json()["errors"]}
    assert entries == {
        "#/answers/surprise": "extra_forbidden",
        "#/answers/sex": "missing",
        "#/answers/systolic_bp": "out_of_range",
    }
    assert _stored(db) == []


def test_a_cholesterol_unit_mix_up_in_the_questionnaire_is_refused(client: TestClient, db: Session) -> None:
    response = _submit(client, sign_in(db, make_user(db)), {**HEALTHY_ANSWERS, "total_cholesterol": 212})
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "pointer": "#/answers/total_cholesterol",
        "code": "unit_mismatch",
        "detail": response.json()["detail"],
    }
    assert _stored(db) == []


def test_answers_to_an_old_questionnaire_version_are_refused(client: TestClient, db: Session) -> None:
    response = _submit(client, sign_in(db, make_user(db)), HEALTHY_ANSWERS, version=0 + 99)
    assert response.status_code == 409
    assert response.json()["code"] == "questionnaire_outdated"
    assert response.json()["current_version"] == questionnaire.current().version
    assert response.json()["errors"][0]["pointer"] == "#/questionnaire_version"
    assert _stored(db) == []


def test_age_out_of_the_models_range_is_refused(client: TestClient, db: Session) -> None:
    response = _submit(client, sign_in(db, make_user(db)), {**HEALTHY_ANSWERS, "age": 39})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/answers/age"


def test_a_retry_with_the_same_key_stores_once(client: TestClient, db: Session) -> None:
    headers = {**sign_in(db, make_user(db)), "Idempotency-Key": str(uuid.uuid4())}
    body = {"questionnaire_version": 1, "answers": HEALTHY_ANSWERS}
    first = client.post(ASSESSMENTS, json=body, headers=headers)
    second = client.post(ASSESSMENTS, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(_stored(db)) == 1


def test_history_lists_newest_first_with_a_trend_oldest_first(client: TestClient, db: Session) -> None:
    patient = make_user(db)
    headers = sign_in(db, patient)
    _submit(client, headers, HEALTHY_ANSWERS)
    _submit(client, headers, {**HEALTHY_ANSWERS, "smoking": False, "systolic_bp": 120})
    _submit(client, sign_in(db, make_user(db)), HEALTHY_ANSWERS)  # someone else's
    first_page = client.get(ASSESSMENTS, params={"limit": 1}, headers=headers).json()
    assert len(first_page["items"]) == 1
    assert first_page["items"][0]["answers"]["smoking"] is False
    assert first_page["trend"][0]["ten_year_risk_percent"] == 14.0
    assert len(first_page["trend"]) == 2
    assert first_page["trend"][1]["ten_year_risk_percent"] < 14.0
    second_page = client.get(
        ASSESSMENTS, params={"cursor": first_page["next_cursor"]}, headers=headers
    ).json()
    assert [item["answers"]["smoking"] for item in second_page["items"]] == [True]
    assert second_page["next_cursor"] is None
    assert latest_category(db, patient.id) == first_page["items"][0]["result"]["category"]


def test_the_ecg_analysis_claim_carries_the_latest_risk_category(client: TestClient, db: Session) -> None:
    patient = make_user(db)
    study = make_analysed_study(db, patient, None)
    study.status = StudyStatus.pending
    db.add(study)
    db.commit()
    assert tasks.claim(db, study.id, None, utcnow()).risk_category is None  # type: ignore[union-attr]
    _submit(client, sign_in(db, patient), HEALTHY_ANSWERS)
    study.status = StudyStatus.pending
    db.add(study)
    db.commit()
    assert tasks.claim(db, study.id, None, utcnow()).risk_category == "very_high"  # type: ignore[union-attr]
