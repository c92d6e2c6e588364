"""API shapes of the risk test: the questionnaire, answers, results, history and the
clinicians' calculator."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.risk.questionnaire import AnswerValue
from services.risk.score2 import Category, Region, RiskModel, Sex
from services.risk.units import CholesterolUnit

SCORE2_INPUT_EXAMPLE = {
    "age": 50,
    "sex": "male",
    "smoking": True,
    "systolic_bp": 140,
    "total_cholesterol": 5.5,
    "hdl_cholesterol": 1.3,
    "cholesterol_unit": "mmol/L",
    "region": "very_high",
}
SCORE2_RESULT_EXAMPLE = {
    "ten_year_risk_percent": 14.0,
    "category": "very_high",
    "category_text": "Very high risk",
    "model": "SCORE2",
    "region": "very_high",
}
RESULT_EXAMPLE = {
    "urgent": False,
    "model": "SCORE2",
    "region": "very_high",
    "ten_year_risk_percent": 14.0,
    "category": "very_high",
    "category_text": "Very high risk",
    "top_factors": [
        {"code": "smoking", "text": "Smoking", "risk_reduction_percent": 6.9},
        {"code": "systolic_bp", "text": "Systolic blood pressure 140 mmHg", "risk_reduction_percent": 2.7},
    ],
    "recommendations": [
        {"code": "stop_smoking", "text": "Stop smoking: ...", "link": None},
        {"code": "book_ecg", "text": "Book an ECG: ...", "link": "/v1/clinics?service=ecg"},
    ],
    "disclaimer": "This estimate is for information and does not replace a doctor's examination.",
}
ASSESSMENT_EXAMPLE = {
    "id": "6f1c2b9e-1d7a-4c1e-9a52-2b0f8e4c7d10",
    "questionnaire_id": "cardio-risk",
    "questionnaire_version": 1,
    "answers": {"age": 50, "sex": "male", "smoking": True},
    "result": RESULT_EXAMPLE,
    "created_at": "2026-11-26T09:30:00Z",
}
TREND_EXAMPLE = {
    "date": "2026-11-26T09:30:00Z",
    "ten_year_risk_percent": 14.0,
    "category": "very_high",
    "model": "SCORE2",
    "urgent": False,
}


class Score2Input(BaseModel):
    """Risk factors for SCORE2 (40-69) or SCORE2-OP (70-89), picked by age."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SCORE2_INPUT_EXAMPLE]})

    age: float = Field(description="Years; 40-89.")
    sex: Sex
    smoking: bool = Field(description="Current smoker.")
    systolic_bp: float = Field(description="Systolic blood pressure, mmHg.")
    total_cholesterol: float = Field(description="In `cholesterol_unit`.")
    hdl_cholesterol: float = Field(description="In `cholesterol_unit`.")
    cholesterol_unit: CholesterolUnit = CholesterolUnit.mmol_l
    region: Region = Field(
        default=Region.very_high,
        description="ESC 2021 risk region; very_high includes Uzbekistan and Russia.",
    )


class Score2Result(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [SCORE2_RESULT_EXAMPLE]})

    ten_year_risk_percent: float = Field(description="10-year risk of fatal and non-fatal CVD, one decimal.")
    category: Category = Field(description="ESC 2021 category for the age band.")
    category_text: str
    model: RiskModel
    region: Region


class Factor(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "smoking", "text": "Smoking", "risk_reduction_percent": 6.9}]
        }
    )

    code: str
    text: str
    risk_reduction_percent: float = Field(
        description="Percentage points the 10-year risk would fall by with this factor at a healthy value."
    )


class Recommendation(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "book_ecg", "text": "Book an ECG: ...", "link": "/v1/clinics?service=ecg"}]
        }
    )

    code: str
    text: str
    link: str | None = Field(default=None, description="Where the app can act on it (API path).")


class RiskResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [RESULT_EXAMPLE]})

    urgent: bool = Field(description="A red-flag symptom: seek urgent care now, whatever the score.")
    model: RiskModel | None = Field(description="The equation used; null when none applies.")
    region: Region | None
    ten_year_risk_percent: float | None
    category: Category | None
    category_text: str | None
    top_factors: list[Factor]
    recommendations: list[Recommendation]
    disclaimer: str


class AssessmentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "questionnaire_version": 1,
                    "answers": {
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
                    },
                }
            ]
        },
    )

    questionnaire_version: int = Field(ge=1, description="The version of the questionnaire answered.")
    answers: dict[str, AnswerValue] = Field(max_length=100, description="Question id → answer.")


class AssessmentPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ASSESSMENT_EXAMPLE]})

    id: uuid.UUID
    questionnaire_id: str
    questionnaire_version: int
    answers: dict[str, Any]
    result: RiskResult
    created_at: datetime


class TrendPoint(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [TREND_EXAMPLE]})

    date: datetime
    ten_year_risk_percent: float | None
    category: Category | None
    model: RiskModel | None
    urgent: bool


class AssessmentPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [ASSESSMENT_EXAMPLE], "next_cursor": None, "trend": [TREND_EXAMPLE]}]
        }
    )

    items: list[AssessmentPublic]
    next_cursor: str | None
    trend: list[TrendPoint] = Field(description="Up to the last 50 results, oldest first, for a chart.")


class OptionPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"value": "male", "text": "Male"}]})

    value: str
    text: str


class QuestionPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "total_cholesterol",
                    "type": "number",
                    "text": "Total cholesterol",
                    "required": True,
                    "red_flag": False,
                    "show_if": [{"question": "cholesterol_known", "equals": True}],
                    "integer": False,
                    "unit_question": "cholesterol_unit",
                    "ranges": {"mmol/L": {"min": 2.0, "max": 15.0}, "mg/dL": {"min": 77, "max": 580}},
                }
            ]
        }
    )

    id: str
    type: str = Field(description="boolean, number or choice.")
    text: str
    required: bool
    red_flag: bool = Field(description="A yes here ends the test with 'seek urgent care now'.")
    show_if: list[dict[str, Any]] = Field(description="Ask only when every {question, equals} holds.")
    integer: bool = False
    unit: str | None = None
    unit_question: str | None = Field(default=None, description="The question whose answer is this unit.")
    min: float | None = None
    max: float | None = None
    ranges: dict[str, dict[str, float]] | None = Field(default=None, description="Range per unit.")
    options: list[OptionPublic] | None = None
    default: AnswerValue | None = None


class QuestionnairePublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "cardio-risk",
                    "version": 1,
                    "title": "Heart attack and stroke risk test",
                    "questions": [
                        {
                            "id": "smoking",
                            "type": "boolean",
                            "text": "Do you smoke?",
                            "required": True,
                            "red_flag": False,
                            "show_if": [],
                        }
                    ],
                }
            ]
        }
    )

    id: str
    version: int
    title: str
    questions: list[QuestionPublic]
