"""Questionnaires are data: versioned JSON files in questionnaires/, loaded and checked once at
import (a bad file fails the app's start and the tests, never a patient's request).

A question has an id, a type (boolean, number, choice), texts in en/ru/uz, a unit (fixed, or
chosen by another question for cholesterol), a range, whether it is required, and `show_if`:
conditions on earlier answers that must all hold for the question to be asked. Answers to
hidden questions are dropped; required answers to shown questions must be present."""

import json
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from i18n import CATALOG_LANGUAGES, Language, pick_localized

QUESTIONNAIRES_DIR = Path(__file__).resolve().parent / "questionnaires"
QUESTIONNAIRE_ID = "cardio-risk"

Texts = dict[Language, str]
AnswerValue = bool | int | float | str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    question: str
    equals: AnswerValue


class NumberRange(_Strict):
    min: float
    max: float


class Option(_Strict):
    value: str
    text: Texts


class Question(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: Literal["boolean", "number", "choice"]
    text: Texts
    required: bool = True
    red_flag: bool = False
    show_if: list[Condition] = []
    integer: bool = False
    unit: str | None = None
    unit_question: str | None = None
    min: float | None = None
    max: float | None = None
    ranges: dict[str, NumberRange] | None = None
    options: list[Option] | None = None
    default: AnswerValue | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Question":
        if set(self.text) != set(CATALOG_LANGUAGES):
            raise ValueError(f"{self.id}: texts must be given in {', '.join(CATALOG_LANGUAGES)}")
        if self.type == "choice":
            if not self.options:
                raise ValueError(f"{self.id}: a choice needs options")
            for option in self.options:
                if set(option.text) != set(CATALOG_LANGUAGES):
                    raise ValueError(f"{self.id}: option {option.value} lacks a language")
        if self.type == "number":
            fixed = self.unit is not None and self.min is not None and self.max is not None
            chosen = self.unit_question is not None and bool(self.ranges)
            if not (fixed or chosen):
                raise ValueError(f"{self.id}: a number needs a unit and a range")
        if self.red_flag and self.type != "boolean":
            raise ValueError(f"{self.id}: a red flag is a yes/no question")
        return self

    def shown(self, answers: dict[str, AnswerValue]) -> bool:
        return all(answers.get(condition.question) == condition.equals for condition in self.show_if)

    def option_values(self) -> list[str]:
        return [option.value for option in self.options or []]


class Questionnaire(_Strict):
    id: str
    version: int = Field(ge=1)
    title: Texts
    questions: list[Question]

    @model_validator(mode="after")
    def _references_resolve(self) -> "Questionnaire":
        seen: dict[str, Question] = {}
        for question in self.questions:
            if question.id in seen:
                raise ValueError(f"duplicate question {question.id}")
            # A condition or a unit may only refer to an earlier question, so one pass decides.
            for condition in question.show_if:
                if condition.question not in seen:
                    raise ValueError(f"{question.id}: show_if refers to unknown {condition.question}")
            if question.unit_question is not None:
                unit_source = seen.get(question.unit_question)
                if unit_source is None or set(unit_source.option_values()) != set(question.ranges or {}):
                    raise ValueError(f"{question.id}: unit_question must list exactly the ranges' units")
            seen[question.id] = question
        return self

    def question(self, question_id: str) -> Question | None:
        return next((question for question in self.questions if question.id == question_id), None)


def _load(path: Path) -> Questionnaire:
    return Questionnaire.model_validate(json.loads(path.read_text(encoding="utf-8")))


@cache
def all_versions() -> dict[int, Questionnaire]:
    found = [_load(path) for path in sorted(QUESTIONNAIRES_DIR.glob(f"{QUESTIONNAIRE_ID}-v*.json"))]
    versions = {questionnaire.version: questionnaire for questionnaire in found}
    if not versions or len(versions) != len(found):
        raise RuntimeError("risk questionnaires: none found, or two files share a version")
    return versions


def current() -> Questionnaire:
    versions = all_versions()
    return versions[max(versions)]


def localized(texts: Texts, language: Language) -> str:
    return pick_localized(texts, language)


def public_view(questionnaire: Questionnaire, language: Language) -> dict[str, Any]:
    """The questionnaire with its texts in one language, as the app shows it."""
    questions = []
    for question in questionnaire.questions:
        item: dict[str, Any] = question.model_dump(exclude={"text", "options"}, exclude_none=True)
        item["text"] = localized(question.text, language)
        if question.options:
            item["options"] = [
                {"value": option.value, "text": localized(option.text, language)}
                for option in question.options
            ]
        questions.append(item)
    return {
        "id": questionnaire.id,
        "version": questionnaire.version,
        "title": localized(questionnaire.title, language),
        "questions": questions,
    }
