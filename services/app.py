"""The application factory: one FastAPI app, every API route under /v1."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import APIRouter, FastAPI

from booking.router import bookings_router, slots_router
from booking.router import hospital_router as booking_hospital_router
from booking.router import staff_router as booking_staff_router
from notifications.router import devices_router, inbox_router
from services.accounts.router import admin_router, auth_router, hospital_router, me_router, staff_router
from services.clinics.router import router as clinics_router
from services.errors import install_error_handlers
from services.health.router import router as health_router
from services.logs import configure_logging
from services.middleware import BodySizeLimitMiddleware, RequestContextMiddleware, SecurityHeadersMiddleware
from services.openapi import camel_case_operation_id, install_openapi
from services.portal.pages import install_portal
from services.portal.router import router as portal_router
from services.privacy.router import router as privacy_router
from services.risk.router import router as risk_router
from services.routing import ApiRoute
from services.settings import Environment, Settings, get_settings
from services.studies.router import admin_router as studies_admin_router
from services.studies.router import clinic_router as studies_clinic_router
from services.studies.router import hospital_router as studies_hospital_router
from services.studies.router import router as studies_router
from services.worker import InProcessWorker

API_VERSION = "1.0.0"


def api_v1() -> APIRouter:
    router = APIRouter(prefix="/v1", route_class=ApiRoute)
    for domain_router in (
        auth_router,
        me_router,
        privacy_router,
        bookings_router,
        slots_router,
        booking_staff_router,
        booking_hospital_router,
        devices_router,
        inbox_router,
        clinics_router,
        staff_router,
        admin_router,
        hospital_router,
        studies_router,
        studies_clinic_router,
        studies_hospital_router,
        studies_admin_router,
        risk_router,
    ):
        router.include_router(domain_router)
    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.max_concurrent_requests
        # The embedded default has no separate worker process: run it beside the API.
        worker = InProcessWorker(settings) if settings.runs_worker_in_process else None
        if worker is not None:
            worker.start()
        yield
        if worker is not None:
            worker.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="CardioAlert API",
        version=API_VERSION,
        docs_url="/docs" if settings.serves_api_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.serves_api_docs else None,
        generate_unique_id_function=camel_case_operation_id,
    )
    # Added last runs first: the request context exists before the size check answers.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_json_bytes=settings.max_json_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.environment is Environment.production)
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(api_v1())
    install_portal(app, portal_router)  # the clinic portal's pages, outside the API contract
    install_openapi(app)
    return app
