"""`make run`'s server: the embedded default (SQLite, no Redis) migrates, seeds and serves."""

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.infra import PROJECT_ROOT, _free_port


def test_embedded_default_serves_the_seeded_api(tmp_path: Path) -> None:
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CARDIOALERT_")} | {
        "CARDIOALERT_DATABASE_URL": f"sqlite:///{tmp_path / 'cardioalert.sqlite3'}",
        "CARDIOALERT_SECRET_KEY": secrets.token_urlsafe(32),
        "CARDIOALERT_BLOB_DIR": str(tmp_path / "blobs"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "services", "serve", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the embedded server did not start"
                time.sleep(0.3)
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", "redis": "not_configured"}}
        clinics = httpx.get(f"{base}/v1/clinics", params={"limit": 100}).json()["items"]
        assert len(clinics) >= 15
        assert httpx.get(f"{base}/docs").status_code == 200
        tokens = httpx.post(
            f"{base}/v1/auth/register",
            json={
                "phone": "+998901234567",
                "password": "correct horse battery",
                "full_name": "Embedded User",
            },
        )
        assert tokens.status_code == 201
        # An ECG study goes through the in-process job queue (no Redis) to its result.
        headers = {"Authorization": f"Bearer {tokens.json()['access_token']}", "Idempotency-Key": "k1"}
        record = PROJECT_ROOT / "tests" / "data" / "ptbxl"
        files = [("file", (name, (record / name).read_bytes())) for name in ("00001_hr.hea", "00001_hr.dat")]
        study = httpx.post(f"{base}/v1/studies", files=files, headers=headers, timeout=30)
        assert study.status_code == 202, study.text
        deadline = time.monotonic() + 120
        while (body := httpx.get(f"{base}/v1/studies/{study.json()['id']}", headers=headers).json())[
            "status"
        ] not in ("done", "failed"):
            assert time.monotonic() < deadline, body
            time.sleep(0.2)
        assert body["status"] == "done" and body["result"]["findings"][0]["label"] == "NORM"
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=10)
    assert f"interactive docs: http://127.0.0.1:{port}/docs" in output
