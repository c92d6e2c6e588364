"""HTTP layer of the risk test: the questionnaire, the patient's assessments and history, and
the calculator for clinicians and the app's quick check (anonymous, stores nothing)."""

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from services.auth import PUBLIC, CurrentPatient
from services.db import SessionDep
from services.errors import InvalidCursor, problem_responses, request_language
from services.idempotency import (
    IdempotencyKeyHeader,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    run_idempotent,
)
from services.pagination import DEFAULT_PAGE_SIZE, Cursor, PageSize
from services.risk import questionnaire, service
from services.risk.schemas import (
    AssessmentCreate,
    AssessmentPage,
    AssessmentPublic,
    QuestionnairePublic,
    Score2Input,
    Score2Result,
)
from services.routing import ApiRoute

router = APIRouter(prefix="/risk", tags=["risk"], route_class=ApiRoute)


@router.post("/score2", dependencies=[PUBLIC], responses=problem_responses(service.InvalidRiskInput))
def calculate_score2(data: Score2Input, request: Request) -> Score2Result:
    """SCORE2 (40-69) or SCORE2-OP (70-89), ESC 2021, recalibrated to the risk region (default
    very_high: Uzbekistan, Russia). Open to anyone; nothing is stored."""
    return service.calculate_score2(data, request_language(request))


@router.get("/questionnaire", dependencies=[PUBLIC])
def get_risk_questionnaire(request: Request) -> QuestionnairePublic:
    """The current version of the risk questionnaire, texts in the request's language."""
    current = questionnaire.current()
    return QuestionnairePublic.model_validate(questionnaire.public_view(current, request_language(request)))


@router.post(
    "/assessments",
    status_code=status.HTTP_201_CREATED,
    response_model=AssessmentPublic,
    responses=problem_responses(
        service.InvalidRiskInput, service.QuestionnaireOutdated, IdempotencyKeyRequired, IdempotencyKeyReused
    ),
)
def submit_risk_assessment(
    data: AssessmentCreate,
    request: Request,
    patient: CurrentPatient,
    session: SessionDep,
    key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Answer the questionnaire: the result (risk, category, factors, recommendations) is stored
    with the answers and the questionnaire version."""
    language = request_language(request)
    return run_idempotent(
        session,
        principal_id=patient.id,
        key=key,
        operation="submitRiskAssessment",
        body=data,
        action=lambda: service.assessment_public(
            service.submit_assessment(session, patient, data.questionnaire_version, data.answers, language),
            language,
        ),
        status_code=status.HTTP_201_CREATED,
    )


@router.get("/assessments", responses=problem_responses(InvalidCursor))
def list_risk_assessments(
    request: Request,
    patient: CurrentPatient,
    session: SessionDep,
    cursor: Cursor = None,
    limit: PageSize = DEFAULT_PAGE_SIZE,
) -> AssessmentPage:
    """The patient's results, newest first, and their trend (oldest first) for a chart."""
    return service.list_assessments(session, patient, cursor, limit, request_language(request))
