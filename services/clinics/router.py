"""HTTP layer of clinics."""

import uuid

from fastapi import APIRouter, Request

from services.auth import PUBLIC
from services.clinics import service
from services.clinics.schemas import ClinicPage, ClinicPublic
from services.db import SessionDep
from services.errors import InvalidCursor, problem_responses, request_language
from services.pagination import DEFAULT_PAGE_SIZE, Cursor, PageSize
from services.routing import ApiRoute

router = APIRouter(prefix="/clinics", tags=["clinics"], route_class=ApiRoute, dependencies=[PUBLIC])


@router.get("", responses=problem_responses(InvalidCursor))
def list_clinics(
    request: Request, session: SessionDep, cursor: Cursor = None, limit: PageSize = DEFAULT_PAGE_SIZE
) -> ClinicPage:
    """Cardiology clinics, texts in the request's language."""
    return service.list_clinics(session, request_language(request), cursor, limit)


@router.get("/{clinic_id}", responses=problem_responses(service.ClinicNotFound))
def get_clinic(clinic_id: uuid.UUID, request: Request, session: SessionDep) -> ClinicPublic:
    """One clinic."""
    return service.get_clinic(session, clinic_id, request_language(request))
