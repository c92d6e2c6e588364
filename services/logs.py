"""Structured JSON logs with the request id, and nothing personal or medical in them.

Only an allow-list of fields leaves a record; exception messages (which may quote SQL
parameters or user input) are dropped and only exception types and stack frames are kept;
e-mail addresses and phone-like digit runs in messages are masked as a second guard."""

import json
import logging
import re
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

SAFE_FIELDS = (
    "method",
    "route",
    "status",
    "duration_ms",
    "error_type",
    "role",
    "event",
    "count",
    "component",
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Runs of 8+ digits that stand alone (phone numbers), not parts of ids like UUIDs.
_DIGITS = re.compile(r"(?<![\w-])\+?\d[\d\s()-]{6,}\d(?![\w-])")


def mask_personal_data(text: str) -> str:
    return _DIGITS.sub("[number]", _EMAIL.sub("[email]", text))


def _exception_summary(exc_info: Any) -> dict[str, Any]:
    _, exc, tb = exc_info
    chain = []
    current = exc
    while current is not None and len(chain) < 5:
        chain.append(type(current).__name__)
        current = current.__cause__ or current.__context__
    frames = [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(tb)][-15:]
    return {"exception": chain, "stack": frames}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_personal_data(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for name in SAFE_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry.update(_exception_summary(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log prints raw paths and query strings; ours logs the route template.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # HTTP clients log every request's full URL at INFO; webhook URLs can carry tokens.
    for name in ("httpx", "httpcore", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)
