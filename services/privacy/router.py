"""HTTP layer of the person's own data as a whole: the export (the deletion is
POST /v1/me/deletion in services/accounts/router.py)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse

from services.auth import CurrentPerson
from services.db import SessionDep
from services.errors import problem_responses
from services.privacy import service
from services.privacy.schemas import PersonExport
from services.routing import ApiRoute
from services.storage import BlobNotFound, StorageUnavailable, get_blob_store

router = APIRouter(prefix="/me", tags=["me"], route_class=ApiRoute)


@router.get(
    "/export",
    response_class=JSONResponse,
    responses={
        200: {
            "model": PersonExport,
            "description": "With `format=zip` (the default) a zip archive: `data.json` (the "
            "document below) and, under `files/studies/<study id>/`, each study's original file as "
            "uploaded and the signal read from it. With `format=json` the document alone.",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        },
        **problem_responses(StorageUnavailable, BlobNotFound),
    },
)
def export_my_data(
    principal: CurrentPerson,
    session: SessionDep,
    export_format: Annotated[Literal["zip", "json"], Query(alias="format")] = "zip",
) -> Response:
    """Everything CardioAlert stores about you (the right of access and to portability)."""
    assert principal.user is not None
    if export_format == "json":
        data = service.export_data(session, principal.user)
        return JSONResponse(data.model_dump(mode="json"), headers={"Cache-Control": "private, no-store"})
    archive = service.export_archive(session, get_blob_store(), principal.user)
    return StreamingResponse(
        service.archive_chunks(archive),
        media_type="application/zip",
        headers={
            "Content-Disposition": 'attachment; filename="cardioalert-export.zip"',
            "Cache-Control": "private, no-store",
        },
    )
