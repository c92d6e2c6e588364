"""HTTP layer of clinics."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from services.auth import PUBLIC
from services.clinics import service
from services.clinics.models import ClinicService
from services.clinics.schemas import ClinicDetail, ClinicPage
from services.db import SessionDep
from services.errors import InvalidCursor, problem_responses, request_language
from services.pagination import DEFAULT_PAGE_SIZE, Cursor, PageSize
from services.routing import ApiRoute

router = APIRouter(prefix="/clinics", tags=["clinics"], route_class=ApiRoute, dependencies=[PUBLIC])

Latitude = Annotated[
    float | None,
    Query(ge=-90, le=90, description="Latitude of the patient (WGS 84); with `lon`, sorts by distance."),
]
Longitude = Annotated[
    float | None,
    Query(ge=-180, le=180, description="Longitude of the patient (WGS 84); with `lat`, sorts by distance."),
]


@router.get("", responses=problem_responses(InvalidCursor, service.CoordinatesIncomplete))
def list_clinics(
    request: Request,
    session: SessionDep,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Words to find in the name, city or address, in any language or script; "
            "every word must match.",
        ),
    ] = None,
    service_offered: Annotated[
        ClinicService | None, Query(alias="service", description="Only clinics offering this service.")
    ] = None,
    city: Annotated[
        str | None,
        Query(max_length=100, description="Only clinics in this city: its English name (`city_slug`)."),
    ] = None,
    open_now: Annotated[
        bool, Query(description="true: only clinics open at this moment; false: no filter.")
    ] = False,
    open_at: Annotated[
        AwareDatetime | None,
        Query(description="Only clinics open at this moment (ISO 8601 with an offset), on their own clock."),
    ] = None,
    lat: Latitude = None,
    lon: Longitude = None,
    cursor: Cursor = None,
    limit: PageSize = DEFAULT_PAGE_SIZE,
) -> ClinicPage:
    """Cardiology clinics, texts in the request's language: nearest first when `lat` and `lon`
    are given, else by slug."""
    search = service.ClinicSearch(
        text=q,
        service=service_offered,
        city=city,
        open_now=open_now,
        open_at=open_at,
        latitude=lat,
        longitude=lon,
    )
    return service.list_clinics(session, request_language(request), search, cursor, limit)


@router.get(
    "/{clinic_id}", responses=problem_responses(service.CoordinatesIncomplete, service.ClinicNotFound)
)
def get_clinic(
    clinic_id: uuid.UUID, request: Request, session: SessionDep, lat: Latitude = None, lon: Longitude = None
) -> ClinicDetail:
    """One clinic with its working hours, upcoming closures, languages and accessibility notes."""
    return service.get_clinic(session, clinic_id, request_language(request), latitude=lat, longitude=lon)
