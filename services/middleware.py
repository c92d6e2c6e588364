"""Per-request context (request id, response language, access log line), body size limits and
security headers."""

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from i18n.negotiation import negotiate_language
from services.errors import ContentTooLarge, render_app_error
from services.logs import request_id_var
from services.routing import route_template

logger = logging.getLogger("cardioalert.access")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Binary bodies that carry files (ECG waveforms, images) get the upload limit.
UPLOAD_MEDIA_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/zip",
        "application/dicom",
        "image/jpeg",
        "image/png",
        "image/heic",
    }
)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        offered_id = headers.get("x-request-id", "")
        request_id = offered_id if _VALID_REQUEST_ID.match(offered_id) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        # The signed-in user's profile language may replace this once the route knows them.
        state["language"] = negotiate_language(headers.get("accept-language"))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_context(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = MutableHeaders(scope=message)
                response_headers["X-Request-ID"] = request_id
                if "content-language" not in response_headers:
                    response_headers["Content-Language"] = str(state["language"])
                vary = response_headers.get("vary")
                response_headers["Vary"] = f"{vary}, Accept-Language" if vary else "Accept-Language"
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        finally:
            logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route_template(scope),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """Refuse request bodies over the configured limits with a problem+json 413: uploads
    (multipart or binary bodies) up to max_upload_bytes, everything else (JSON, forms) up to
    max_json_bytes. A declared Content-Length over the limit is refused before any byte is
    read; a streamed body is cut off as soon as it passes the limit."""

    def __init__(self, app: ASGIApp, max_json_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes

    def limit_for(self, content_type: str) -> int:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type.startswith("multipart/") or media_type in UPLOAD_MEDIA_TYPES:
            return self.max_upload_bytes
        return self.max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limit_for(headers.get("content-type", ""))
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            response = render_app_error(Request(scope, receive), ContentTooLarge())
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Starlette's HTTPException passes through FastAPI's body parsing untouched.
                    raise HTTPException(status_code=413)
            return message

        await self.app(scope, receive_within_limit, send)


# Every answer: no MIME sniffing, no framing, no referrer, not readable by other sites' pages.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# Answers that are not HTML pages (JSON, problem+json, files): a policy that lets nothing run if
# one is opened in a browser, and never stored by a cache (they carry health data). HTML pages
# (the interactive docs, the clinic portal) set their own.
NON_HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeadersMiddleware:
    """Adds the headers above to every response that does not set them itself; in production
    also Strict-Transport-Security (TLS ends at the proxy in front of the api)."""

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                wanted = dict(SECURITY_HEADERS)
                if not headers.get("content-type", "").startswith("text/html"):
                    wanted |= NON_HTML_HEADERS
                    if "etag" in headers:  # a static file (the portal's CSS): public, cacheable
                        del wanted["Cache-Control"]
                if self.hsts:
                    wanted["Strict-Transport-Security"] = HSTS
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
