"""Cursor pagination: every list answers {items, next_cursor}; pass next_cursor back to get
the following page. Cursors are opaque to clients (base64 of the last row's sort key)."""

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import Query

from services.errors import InvalidCursor

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_CURSOR_LENGTH = 500

PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page.")]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page.")
]


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    """The sort key a cursor carries; InvalidCursor unless it is a list of `length` scalars."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor() from None
    if (
        not isinstance(key, list)
        or len(key) != length
        or not all(isinstance(part, str | int | float) for part in key)
    ):
        raise InvalidCursor()
    return key
