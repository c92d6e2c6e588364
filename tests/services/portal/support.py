"""Signing in to the portal from tests, and reading what its pages carry."""

import re
import uuid
from html import unescape

from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session

from services.studies.models import StudyResult
from tests.support import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: Response | str) -> str:
    text = page if isinstance(page, str) else page.text
    found = CSRF.search(text)
    assert found, "no CSRF token on the page"
    return found.group(1)


def text_of(page: Response) -> str:
    """The page's visible text, roughly: tags dropped, entities decoded, spaces folded."""
    without_tags = re.sub(r"<script.*?</script>|<[^>]+>", " ", page.text, flags=re.DOTALL)
    return " ".join(unescape(without_tags).split())


def portal_log_in(client: TestClient, login: str, password: str = PASSWORD, **extra: str) -> Response:
    """POST the login form as a browser would (after loading it); does not follow the redirect."""
    page = client.get("/portal/login")
    form = {"csrf_token": csrf_of(page), "login": login, "password": password, **extra}
    return client.post("/portal/login", data=form, follow_redirects=False)


def post_form(
    client: TestClient, path: str, data: dict[str, str | list[str]], page: str | None = None
) -> Response:
    """Submit a form of a signed-in page: the CSRF token is read from `page` (default: `path`)."""
    token = csrf_of(client.get(page or path))
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)


def make_urgent(db: Session, study_id: uuid.UUID) -> None:
    """Turn a study of make_analysed_study into an urgent one, with a heat strip on its finding."""
    result = db.get(StudyResult, study_id)
    assert result is not None
    explanation = [[round(abs(25 - i) / 25 * (0.4 + lead / 20), 2) for i in range(50)] for lead in range(12)]
    result.triage = "urgent"
    result.analysis = {
        **result.analysis,
        "triage": "urgent",
        "recommendations": ["call_emergency_services"],
        "findings": [
            {"label": "AFIB", "probability": 0.91, "explanation": explanation},
            {"label": "STACH", "probability": 0.64, "explanation": None},
        ],
        "measurements": {**result.analysis["measurements"], "heart_rate_bpm": 128.0, "rhythm": "irregular"},
    }
    db.add(result)
    db.commit()
