"""HTTP layer of devices, the inbox and notification preferences."""

import uuid

from fastapi import APIRouter, Request, Response, status

from notifications import service
from notifications.schemas import (
    DevicePublic,
    DeviceRegistration,
    InboxPage,
    NotificationPublic,
    PreferencesPublic,
    PreferencesUpdate,
)
from services.auth import CurrentPatient, PrincipalDep
from services.db import SessionDep
from services.errors import InvalidCursor, problem_responses, request_language
from services.pagination import DEFAULT_PAGE_SIZE, Cursor, PageSize
from services.routing import ApiRoute

devices_router = APIRouter(prefix="/devices", tags=["devices"], route_class=ApiRoute)
inbox_router = APIRouter(prefix="/notifications", tags=["notifications"], route_class=ApiRoute)


@devices_router.post("")
def register_device(
    data: DeviceRegistration, patient: CurrentPatient, principal: PrincipalDep, session: SessionDep
) -> DevicePublic:
    """Register this phone for pushes, or update it (same push token). Call after every sign-in
    and whenever the token, app version, language or time zone changes. Signing out stops
    pushes to it."""
    device = service.register_device(session, patient, principal.session_id, data)
    return DevicePublic.model_validate(device)


@devices_router.get("")
def list_my_devices(patient: CurrentPatient, session: SessionDep) -> list[DevicePublic]:
    """Phones registered for this account's pushes."""
    return [DevicePublic.model_validate(device) for device in service.list_devices(session, patient)]


@devices_router.delete(
    "/{device_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(service.DeviceNotFound),
)
def unregister_device(device_id: uuid.UUID, patient: CurrentPatient, session: SessionDep) -> Response:
    """Stop pushes to one phone."""
    service.unregister_device(session, patient, device_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@inbox_router.get("", responses=problem_responses(InvalidCursor))
def list_notifications(
    request: Request,
    patient: CurrentPatient,
    session: SessionDep,
    cursor: Cursor = None,
    limit: PageSize = DEFAULT_PAGE_SIZE,
) -> InboxPage:
    """The inbox, newest first: every notification sent to this account, pushed or not."""
    return service.list_inbox(session, patient, request_language(request), cursor, limit)


@inbox_router.post("/read-all", status_code=status.HTTP_204_NO_CONTENT)
def mark_all_notifications_read(patient: CurrentPatient, session: SessionDep) -> Response:
    service.mark_all_read(session, patient)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@inbox_router.post("/{notification_id}/read", responses=problem_responses(service.NotificationNotFound))
def mark_notification_read(
    notification_id: uuid.UUID, request: Request, patient: CurrentPatient, session: SessionDep
) -> NotificationPublic:
    return service.mark_read(session, patient, notification_id, request_language(request))


@inbox_router.get("/preferences")
def get_notification_preferences(patient: CurrentPatient, session: SessionDep) -> PreferencesPublic:
    """Which categories arrive as pushes (reminders, booking changes, results)."""
    return service.get_preferences(session, patient)


@inbox_router.patch("/preferences")
def update_notification_preferences(
    data: PreferencesUpdate, patient: CurrentPatient, session: SessionDep
) -> PreferencesPublic:
    """Switch push categories on or off; the inbox keeps receiving everything."""
    return service.update_preferences(session, patient, data)
