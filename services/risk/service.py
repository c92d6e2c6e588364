"""Rules of the risk test: check the answers (ranges, units, the questionnaire's version),
short-circuit red-flag symptoms, pick the equation (SCORE2, SCORE2-OP, or Framingham-BMI 2008
without laboratory values), explain the result (the factors that add most) and say what to do.

Results are stored language-neutral (codes, numbers, parameters) and rendered in the reader's
language. Nothing here commits; nothing is stored when any answer is refused."""

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from i18n import N_, Language, gettext
from services.accounts.models import User
from services.errors import Conflict, InvalidCursor, ValidationFailed
from services.pagination import decode_cursor, encode_cursor
from services.risk import score2 as equations
from services.risk import units
from services.risk.models import RiskAssessment
from services.risk.questionnaire import AnswerValue, Question, Questionnaire, all_versions, current
from services.risk.schemas import (
    AssessmentPage,
    AssessmentPublic,
    Factor,
    Recommendation,
    RiskResult,
    Score2Input,
    Score2Result,
    TrendPoint,
)
from services.risk.score2 import Category, LabProfile, OfficeProfile, Region, RiskModel, Sex
from services.risk.units import CholesterolUnit, Problem

BOOK_ECG_LINK = "/v1/clinics?service=ecg"
BOOK_CARDIOLOGIST_LINK = "/v1/clinics?service=cardiology_consultation"
TREND_POINTS = 50
TOP_FACTORS = 3

# "Healthy values" a factor is compared with to say how much it adds to the risk.
HEALTHY_SBP = 120.0
HEALTHY_TOTAL_CHOLESTEROL = 4.5
HEALTHY_HDL = 1.3
HEALTHY_BMI = 25.0


class InvalidRiskInput(ValidationFailed):
    code = "invalid_risk_input"
    title = N_("Invalid input")


class QuestionnaireOutdated(Conflict):
    code = "questionnaire_outdated"
    title = N_("Questionnaire out of date")
    detail = N_(
        "These answers are for version {sent} of the questionnaire; the current version is {current}. "
        "Load the questionnaire again and answer it."
    )


FIELD_LABELS = {
    "age": N_("Age"),
    "sex": N_("Sex"),
    "smoking": N_("Smoking"),
    "systolic_bp": N_("Systolic blood pressure"),
    "bp_treated": N_("Blood pressure treatment"),
    "total_cholesterol": N_("Total cholesterol"),
    "hdl_cholesterol": N_("HDL cholesterol"),
    "cholesterol_known": N_("Cholesterol known"),
    "cholesterol_unit": N_("Cholesterol unit"),
    "height_cm": N_("Height"),
    "weight_kg": N_("Weight"),
    "questionnaire_version": N_("Questionnaire version"),
}
UNIT_TEXTS = {
    "years": N_("years"),
    "mmHg": N_("mmHg"),
    "cm": N_("cm"),
    "kg": N_("kg"),
    "mmol/L": N_("mmol/L"),
    "mg/dL": N_("mg/dL"),
}
MISSING = N_("{field}: this answer is required.")
UNKNOWN_QUESTION = N_("{field}: there is no such question in this questionnaire.")
NOT_BOOLEAN = N_("{field}: the answer must be yes or no (true or false).")
NOT_NUMBER = N_("{field}: the answer must be a number.")
NOT_INTEGER = N_("{field}: the answer must be a whole number.")
NOT_AN_OPTION = N_("{field}: the answer must be one of: {expected}.")
AGE_OUT_OF_MODEL = N_(
    "{field} must be between {min} and {max} years: SCORE2 applies from 40 to 69 years and SCORE2-OP "
    "from 70 to 89."
)
NO_LAB_AGE = N_(
    "{field}: without cholesterol values the risk can be estimated only up to {max} years "
    "(Framingham-BMI 2008). Add your total and HDL cholesterol."
)
HDL_NOT_BELOW_TOTAL = N_("{field} must be lower than total cholesterol.")

CATEGORY_TEXTS = {
    Category.low_to_moderate: N_("Low-to-moderate risk"),
    Category.high: N_("High risk"),
    Category.very_high: N_("Very high risk"),
}
FACTOR_TEXTS = {
    "smoking": N_("Smoking"),
    "systolic_bp": N_("Systolic blood pressure {value} mmHg"),
    "total_cholesterol": N_("Total cholesterol {value} mmol/L"),
    "hdl_cholesterol": N_("Low HDL cholesterol {value} mmol/L"),
    "bmi": N_("Body mass index {value} kg/m²"),
}
RECOMMENDATION_TEXTS = {
    "urgent_care": N_(
        "Your answers include warning signs: chest pain at rest, fainting or severe breathlessness. Seek "
        "urgent care now: call 103 or go to the nearest emergency department. Do not wait for a test "
        "result or an appointment."
    ),
    "established_cvd": N_(
        "After a heart attack, a stroke or with known arterial disease the risk is very high by "
        "definition and this test does not apply. Follow your cardiologist's treatment and check-ups."
    ),
    "diabetes": N_(
        "The risk equations used here do not apply to people with diabetes. Ask your doctor or "
        "endocrinologist to assess your heart and vessel risk."
    ),
    "stop_smoking": N_(
        "Stop smoking: it is the most effective single step to lower your risk. Ask your doctor for help "
        "to quit."
    ),
    "blood_pressure": N_(
        "Your systolic blood pressure is {value} mmHg. Aim for below 140/90 mmHg and, if you tolerate it, "
        "below 130/80 mmHg; see a doctor about lifestyle changes and treatment."
    ),
    "ldl_target": N_(
        "Have your LDL cholesterol checked. For your risk level the target is below {mmol} mmol/L "
        "({mgdl} mg/dL); lifestyle changes and, if needed, medicines help to reach it."
    ),
    "measure_cholesterol": N_(
        "This estimate was made without laboratory values (Framingham-BMI 2008 model). Have your total "
        "and HDL cholesterol measured and take the test again for a SCORE2 estimate."
    ),
    "see_cardiologist": N_(
        "See a cardiologist to discuss your risk and whether you need treatment for blood pressure or "
        "cholesterol."
    ),
    "book_ecg": N_("Book an ECG: it checks your heart rhythm and shows signs of earlier heart damage."),
    "healthy_lifestyle": N_(
        "Keep a healthy lifestyle: regular physical activity, little salt and saturated fat, a healthy "
        "weight. Repeat the test in 5 years or when your health changes."
    ),
}
RECOMMENDATION_LINKS = {"book_ecg": BOOK_ECG_LINK, "see_cardiologist": BOOK_CARDIOLOGIST_LINK}
DISCLAIMER = N_("This estimate is for information and does not replace a doctor's examination.")

# ESC/EAS 2019 dyslipidaemia guideline LDL-C goals by risk category (mmol/L, mg/dL).
LDL_TARGETS = {
    Category.very_high: ("1.4", "55"),
    Category.high: ("1.8", "70"),
    Category.low_to_moderate: ("2.6", "100"),
}


# ------------------------------------------------------------------ input problems


@dataclass(frozen=True)
class FieldProblem:
    pointer: str
    field: str
    problem: Problem


class Problems:
    """Collects every refused answer, so the app can mark them all at once."""

    def __init__(self, language: Language, prefix: str = "#/") -> None:
        self.language = language
        self.prefix = prefix
        self.found: list[FieldProblem] = []

    def add(self, field: str, problem: Problem | None, label: str | None = None) -> None:
        if problem is not None:
            self.found.append(FieldProblem(self.prefix + field, label or field, problem))

    def _params(self, item: FieldProblem) -> dict[str, object]:
        label = FIELD_LABELS.get(item.field)
        params = dict(item.problem.params)
        if "unit" in params and str(params["unit"]) in UNIT_TEXTS:
            params["unit"] = gettext(UNIT_TEXTS[str(params["unit"])], self.language)
        return {"field": gettext(label, self.language) if label else item.field, **params}

    def raise_if_any(self) -> None:
        if not self.found:
            return
        entries = [
            {
                "pointer": item.pointer,
                "code": item.problem.code,
                "detail": gettext(item.problem.message, self.language, **self._params(item)),
            }
            for item in self.found
        ]
        first = self.found[0]
        raise InvalidRiskInput(first.problem.message, extensions={"errors": entries}, **self._params(first))


def _problem(code: str, message: str, **params: object) -> Problem:
    return Problem(code, message, params)


# ------------------------------------------------------------------ scoring


@dataclass(frozen=True)
class Scored:
    model: RiskModel
    risk_percent: float
    category: Category
    factors: list[tuple[str, float, str]]  # (code, reduction in points, value shown)


def _check_lab_inputs(
    problems: Problems,
    age: float,
    systolic_bp: float,
    total: float,
    hdl: float,
    unit: CholesterolUnit,
) -> None:
    low, high = equations.SCORE2_AGES[0], equations.SCORE2_OP_AGES[1]
    if not low <= age <= high:
        problems.add("age", _problem("out_of_model_range", AGE_OUT_OF_MODEL, min=low, max=high))
    problems.add("systolic_bp", units.check_range(systolic_bp, units.SYSTOLIC_RANGE, "mmHg"))
    total_problem = units.check_cholesterol("total_cholesterol", total, unit)
    hdl_problem = units.check_cholesterol("hdl_cholesterol", hdl, unit)
    problems.add("total_cholesterol", total_problem)
    problems.add("hdl_cholesterol", hdl_problem)
    if total_problem is None and hdl_problem is None and hdl >= total:
        problems.add("hdl_cholesterol", _problem("hdl_not_below_total", HDL_NOT_BELOW_TOTAL))


def _reductions(
    risk_of: Any, profile: Any, base: float, candidates: list[tuple[str, dict[str, Any], str]]
) -> list[tuple[str, float, str]]:
    found = []
    for code, healthy, shown in candidates:
        reduction = round(base - equations.as_percent(risk_of(replace(profile, **healthy))), 1)
        if reduction >= 0.1:
            found.append((code, reduction, shown))
    found.sort(key=lambda item: -item[1])
    return found[:TOP_FACTORS]


def score_lab(profile: LabProfile, region: Region) -> Scored:
    risk = equations.as_percent(equations.lab_risk(profile, region))
    candidates: list[tuple[str, dict[str, Any], str]] = []
    if profile.smoking:
        candidates.append(("smoking", {"smoking": False}, ""))
    if profile.systolic_bp > HEALTHY_SBP:
        candidates.append(("systolic_bp", {"systolic_bp": HEALTHY_SBP}, f"{profile.systolic_bp:g}"))
    if profile.total_cholesterol > HEALTHY_TOTAL_CHOLESTEROL:
        shown = f"{profile.total_cholesterol:.1f}"
        candidates.append(("total_cholesterol", {"total_cholesterol": HEALTHY_TOTAL_CHOLESTEROL}, shown))
    if profile.hdl_cholesterol < HEALTHY_HDL:
        candidates.append(
            ("hdl_cholesterol", {"hdl_cholesterol": HEALTHY_HDL}, f"{profile.hdl_cholesterol:.1f}")
        )
    factors = _reductions(lambda p: equations.lab_risk(p, region), profile, risk, candidates)
    return Scored(equations.lab_model_for(profile.age), risk, equations.category(profile.age, risk), factors)


def score_office(profile: OfficeProfile) -> Scored:
    risk = equations.as_percent(equations.framingham_bmi(profile))
    candidates: list[tuple[str, dict[str, Any], str]] = []
    if profile.smoking:
        candidates.append(("smoking", {"smoking": False}, ""))
    if profile.systolic_bp > HEALTHY_SBP:
        candidates.append(("systolic_bp", {"systolic_bp": HEALTHY_SBP}, f"{profile.systolic_bp:g}"))
    if profile.bmi > HEALTHY_BMI:
        candidates.append(("bmi", {"bmi": HEALTHY_BMI}, f"{profile.bmi:.1f}"))
    factors = _reductions(equations.framingham_bmi, profile, risk, candidates)
    return Scored(RiskModel.framingham_bmi, risk, equations.category(profile.age, risk), factors)


def calculate_score2(data: Score2Input, language: Language) -> Score2Result:
    """The clinicians' calculator: SCORE2 or SCORE2-OP by age; stores nothing."""
    problems = Problems(language)
    _check_lab_inputs(
        problems,
        data.age,
        data.systolic_bp,
        data.total_cholesterol,
        data.hdl_cholesterol,
        data.cholesterol_unit,
    )
    problems.raise_if_any()
    profile = LabProfile(
        age=data.age,
        sex=data.sex,
        smoking=data.smoking,
        systolic_bp=data.systolic_bp,
        total_cholesterol=units.to_mmol_l(data.total_cholesterol, data.cholesterol_unit),
        hdl_cholesterol=units.to_mmol_l(data.hdl_cholesterol, data.cholesterol_unit),
    )
    risk = equations.as_percent(equations.lab_risk(profile, data.region))
    category = equations.category(data.age, risk)
    return Score2Result(
        ten_year_risk_percent=risk,
        category=category,
        category_text=gettext(CATEGORY_TEXTS[category], language),
        model=equations.lab_model_for(data.age),
        region=data.region,
    )


# ------------------------------------------------------------------ questionnaire answers


def _check_number(question: Question, value: float, answers: dict[str, AnswerValue]) -> Problem | None:
    if question.integer and value != int(value):
        return _problem("int_from_float", NOT_INTEGER)
    if question.unit_question is not None:
        unit = CholesterolUnit(str(answers[question.unit_question]))
        return units.check_cholesterol(question.id, value, unit)
    if question.id == "height_cm":
        return units.check_height(value)
    assert question.min is not None and question.max is not None and question.unit is not None
    return units.check_range(value, (question.min, question.max), question.unit)


def _check_answer(question: Question, value: AnswerValue, answers: dict[str, AnswerValue]) -> Problem | None:
    if question.type == "boolean":
        return None if isinstance(value, bool) else _problem("bool_type", NOT_BOOLEAN)
    if question.type == "choice":
        allowed = question.option_values()
        valid = value in allowed
        return None if valid else _problem("enum", NOT_AN_OPTION, expected=", ".join(allowed))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _problem("float_type", NOT_NUMBER)
    return _check_number(question, float(value), answers)


def validated_answers(
    questionnaire: Questionnaire, raw: dict[str, AnswerValue], problems: Problems
) -> dict[str, AnswerValue]:
    """The answers to the questions shown, checked; hidden questions' answers are dropped."""
    known = {question.id for question in questionnaire.questions}
    for unknown in sorted(set(raw) - known):
        problems.add(unknown, _problem("extra_forbidden", UNKNOWN_QUESTION))
    answers: dict[str, AnswerValue] = {}
    refused: set[str] = set()
    for question in questionnaire.questions:
        if any(condition.question in refused for condition in question.show_if):
            continue
        if not question.shown(answers):
            continue
        value = raw.get(question.id, question.default)
        if value is None:
            if question.required:
                problems.add(question.id, _problem("missing", MISSING))
                refused.add(question.id)
            continue
        if question.unit_question is not None and question.unit_question not in answers:
            continue  # the unit was refused; that problem is reported already
        problem = _check_answer(question, value, answers)
        if problem is not None:
            problems.add(question.id, problem)
            refused.add(question.id)
            continue
        answers[question.id] = value
    return answers


def _recommendation(code: str, **params: object) -> dict[str, Any]:
    return {"code": code, "params": params}


RED_FLAGS = ("chest_pain_at_rest", "fainting", "severe_breathlessness")


def _empty_result() -> dict[str, Any]:
    return {
        "urgent": False,
        "model": None,
        "region": None,
        "ten_year_risk_percent": None,
        "category": None,
        "top_factors": [],
        "recommendations": [],
    }


def _risk_factor_advice(smoking: bool, systolic_bp: float) -> list[dict[str, Any]]:
    advice = []
    if smoking:
        advice.append(_recommendation("stop_smoking"))
    if systolic_bp >= 130:
        advice.append(_recommendation("blood_pressure", value=f"{systolic_bp:g}"))
    return advice


def _score(
    answers: dict[str, AnswerValue], problems: Problems, region: Region
) -> tuple[Scored, float | None]:
    """The score of the answers, and total cholesterol in mmol/L when it was known."""
    age, systolic_bp = float(answers["age"]), float(answers["systolic_bp"])
    sex, smoking = Sex(str(answers["sex"])), bool(answers["smoking"])
    if answers["cholesterol_known"] is True:
        unit = CholesterolUnit(str(answers["cholesterol_unit"]))
        total, hdl = float(answers["total_cholesterol"]), float(answers["hdl_cholesterol"])
        _check_lab_inputs(problems, age, systolic_bp, total, hdl, unit)
        problems.raise_if_any()
        total_mmol = units.to_mmol_l(total, unit)
        profile = LabProfile(age, sex, smoking, systolic_bp, total_mmol, units.to_mmol_l(hdl, unit))
        return score_lab(profile, region), total_mmol
    top_age = equations.FRAMINGHAM_AGES[1]
    if age > top_age:
        problems.add("cholesterol_known", _problem("lab_values_needed", NO_LAB_AGE, max=top_age))
    problems.raise_if_any()
    bmi = units.bmi(float(answers["height_cm"]), float(answers["weight_kg"]))
    office = OfficeProfile(age, sex, smoking, systolic_bp, bool(answers["bp_treated"]), round(bmi, 1))
    return score_office(office), None


def evaluate(answers: dict[str, AnswerValue], problems: Problems) -> dict[str, Any]:
    """The language-neutral result of checked answers (see RiskResult for its shape)."""
    result = _empty_result()
    if any(answers.get(flag) is True for flag in RED_FLAGS):
        result["urgent"] = True
        result["recommendations"] = [_recommendation("urgent_care")]
        return result
    smoking, systolic_bp = bool(answers["smoking"]), float(answers["systolic_bp"])
    region = Region(str(answers.get("risk_region", Region.very_high)))
    if answers.get("cardiovascular_disease") is True:
        # ESC 2021: documented ASCVD is very high risk by definition; no equation applies.
        result["category"] = Category.very_high.value
        first = [_recommendation("established_cvd")]
    elif answers.get("diabetes") is True:
        first = [_recommendation("diabetes")]
    else:
        first = []
    if first:
        follow_up = [_recommendation("see_cardiologist"), _recommendation("book_ecg")]
        result["recommendations"] = first + _risk_factor_advice(smoking, systolic_bp) + follow_up
        return result
    scored, total_mmol = _score(answers, problems, region)
    result.update(
        model=scored.model.value,
        # Framingham is not recalibrated by region.
        region=region.value if scored.model is not RiskModel.framingham_bmi else None,
        ten_year_risk_percent=scored.risk_percent,
        category=scored.category.value,
        top_factors=[
            {"code": code, "value": shown, "risk_reduction_percent": reduction}
            for code, reduction, shown in scored.factors
        ],
    )
    elevated = scored.category in (Category.high, Category.very_high)
    recommendations = _risk_factor_advice(smoking, systolic_bp)
    if total_mmol is None:
        recommendations.append(_recommendation("measure_cholesterol"))
    elif elevated or total_mmol >= 5.0:
        mmol, mgdl = LDL_TARGETS[scored.category]
        recommendations.append(_recommendation("ldl_target", mmol=mmol, mgdl=mgdl))
    if elevated:
        recommendations += [_recommendation("see_cardiologist"), _recommendation("book_ecg")]
    recommendations.append(_recommendation("healthy_lifestyle"))
    result["recommendations"] = recommendations
    return result


def _text(texts: dict[str, str], code: str, language: Language, **params: object) -> str:
    message = texts[code]
    return gettext(message, language, **params)


def render_result(result: dict[str, Any], language: Language) -> RiskResult:
    category = Category(result["category"]) if result.get("category") else None
    return RiskResult(
        urgent=result["urgent"],
        model=result.get("model"),
        region=result.get("region"),
        ten_year_risk_percent=result.get("ten_year_risk_percent"),
        category=category,
        category_text=gettext(CATEGORY_TEXTS[category], language) if category else None,
        top_factors=[
            Factor(
                code=factor["code"],
                text=_text(FACTOR_TEXTS, factor["code"], language, value=factor["value"]),
                risk_reduction_percent=factor["risk_reduction_percent"],
            )
            for factor in result.get("top_factors", [])
        ],
        recommendations=[
            Recommendation(
                code=item["code"],
                text=_text(RECOMMENDATION_TEXTS, item["code"], language, **item["params"]),
                link=RECOMMENDATION_LINKS.get(item["code"]),
            )
            for item in result["recommendations"]
        ],
        disclaimer=gettext(DISCLAIMER, language),
    )


# ------------------------------------------------------------------ assessments


def submit_assessment(
    session: Session, patient: User, version: int, raw: dict[str, AnswerValue], language: Language
) -> RiskAssessment:
    """Check the answers against the version they answered, score, store. All or nothing."""
    latest = current()
    questionnaire = all_versions().get(version)
    if questionnaire is None or version != latest.version:
        raise QuestionnaireOutdated(
            sent=version,
            current=latest.version,
            extensions={
                "current_version": latest.version,
                "errors": [{"pointer": "#/questionnaire_version", "code": "questionnaire_outdated"}],
            },
        )
    problems = Problems(language, prefix="#/answers/")
    answers = validated_answers(questionnaire, raw, problems)
    problems.raise_if_any()
    result = evaluate(answers, problems)
    assessment = RiskAssessment(
        patient_id=patient.id,
        questionnaire_id=questionnaire.id,
        questionnaire_version=questionnaire.version,
        answers=answers,
        result=result,
        urgent=result["urgent"],
        model=result["model"],
        ten_year_risk_percent=result["ten_year_risk_percent"],
        category=result["category"],
    )
    session.add(assessment)
    session.flush()
    return assessment


def assessment_public(assessment: RiskAssessment, language: Language) -> AssessmentPublic:
    return AssessmentPublic(
        id=assessment.id,
        questionnaire_id=assessment.questionnaire_id,
        questionnaire_version=assessment.questionnaire_version,
        answers=assessment.answers,
        result=render_result(assessment.result, language),
        created_at=assessment.created_at,
    )


def list_assessments(
    session: Session, patient: User, cursor: str | None, limit: int, language: Language
) -> AssessmentPage:
    """The patient's results, newest first, with the trend of the last ones (oldest first)."""
    mine = select(RiskAssessment).where(RiskAssessment.patient_id == patient.id)
    newest_first = (col(RiskAssessment.created_at).desc(), col(RiskAssessment.id).desc())
    query = mine
    if cursor is not None:
        created, last_id = decode_cursor(cursor, 2)
        try:
            moment, after_id = datetime.fromisoformat(str(created)), uuid.UUID(str(last_id))
        except ValueError:
            raise InvalidCursor() from None
        query = query.where(
            (col(RiskAssessment.created_at) < moment)
            | ((col(RiskAssessment.created_at) == moment) & (col(RiskAssessment.id) < after_id))
        )
    rows = session.exec(query.order_by(*newest_first).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        encode_cursor([rows[-1].created_at.isoformat(), str(rows[-1].id)]) if more and rows else None
    )
    recent = session.exec(mine.order_by(*newest_first).limit(TREND_POINTS)).all()
    trend = [
        TrendPoint(
            date=row.created_at,
            ten_year_risk_percent=row.ten_year_risk_percent,
            category=Category(row.category) if row.category else None,
            model=RiskModel(row.model) if row.model else None,
            urgent=row.urgent,
        )
        for row in reversed(recent)
    ]
    return AssessmentPage(
        items=[assessment_public(row, language) for row in rows], next_cursor=next_cursor, trend=trend
    )


def latest_category(session: Session, patient_id: uuid.UUID) -> str | None:
    """The ESC category of the patient's latest result that has one (low_to_moderate, high,
    very_high), for the ECG analysis; None without any."""
    return session.exec(
        select(RiskAssessment.category)
        .where(RiskAssessment.patient_id == patient_id, col(RiskAssessment.category).is_not(None))
        .order_by(col(RiskAssessment.created_at).desc(), col(RiskAssessment.id).desc())
        .limit(1)
    ).first()
