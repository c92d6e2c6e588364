"""The mobile app's traffic for bench/mobile_load.py (locust): a signed-in patient browses
clinics, searches slots, books and cancels, registers a device, uploads a WFDB study and reads
results, with think time between taps. The data comes from the JSON file named by
CARDIOALERT_LOAD_DATA (written by the bench); CARDIOALERT_LOAD_MODE picks the user class:
`mobile` (think time), `mobile-max` (no think time: the closed-loop maximum) or `healthz`."""

import itertools
import json
import os
import random
import uuid
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, constant, task

DATA: dict[str, Any] = json.loads(Path(os.environ["CARDIOALERT_LOAD_DATA"]).read_text())
MODE = os.environ.get("CARDIOALERT_LOAD_MODE", "mobile")
PATIENTS = itertools.count()
BOUNDARY = "cardioalert-load-boundary"


def _wfdb_upload_body() -> bytes:
    parts = []
    for name, content_type in (("00001_hr.hea", "text/plain"), ("00001_hr.dat", "application/octet-stream")):
        payload = (Path(DATA["record_dir"]) / name).read_bytes()
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
            + payload
            + b"\r\n"
        )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


UPLOAD_BODY = _wfdb_upload_body()


class Patient(FastHttpUser):
    """One patient per simulated user (tokens are handed out in turn)."""

    abstract = True

    def on_start(self) -> None:
        patient = DATA["patients"][next(PATIENTS) % len(DATA["patients"])]
        self.auth = {"Authorization": f"Bearer {patient['token']}"}
        self.study_id = patient["study_id"]

    def place(self) -> tuple[float, float]:
        return 41.3 + random.uniform(-1.5, 1.5), 69.2 + random.uniform(-3, 3)  # noqa: S311

    @task(24)
    def browse_clinics(self) -> None:
        lat, lon = self.place()
        self.client.get(f"/v1/clinics?lat={lat:.4f}&lon={lon:.4f}&limit=20", name="GET /v1/clinics")

    @task(12)
    def clinic_detail(self) -> None:
        clinic = random.choice(DATA["clinic_ids"])  # noqa: S311
        self.client.get(f"/v1/clinics/{clinic}", name="GET /v1/clinics/{id}")

    @task(16)
    def search_slots(self) -> None:
        clinic = random.choice(DATA["clinic_ids"])  # noqa: S311
        self.client.get(f"/v1/clinics/{clinic}/slots?service=ecg&days=7", name="GET /v1/clinics/{id}/slots")

    @task(4)
    def book_and_cancel(self) -> None:
        slot = random.choice(DATA["slot_ids"])  # noqa: S311
        with self.client.post(
            "/v1/bookings",
            json={"slot_id": slot},
            headers={**self.auth, "Idempotency-Key": str(uuid.uuid4())},
            name="POST /v1/bookings",
            catch_response=True,
        ) as hold:
            if hold.status_code != 201:
                hold.failure(f"hold {hold.status_code}")
                return
            booking_id = hold.json()["id"]
        self.client.post(
            f"/v1/bookings/{booking_id}/cancel",
            headers={**self.auth, "Idempotency-Key": str(uuid.uuid4())},
            name="POST /v1/bookings/{id}/cancel",
        )

    @task(4)
    def register_device(self) -> None:
        self.client.post(
            "/v1/devices",
            json={
                "platform": "ios",
                "push_token": uuid.uuid4().hex + uuid.uuid4().hex,
                "app_version": "1.4.0",
                "language": "ru",
            },
            headers=self.auth,
            name="POST /v1/devices",
        )

    @task(8)
    def read_results(self) -> None:
        self.client.get("/v1/studies?limit=20", headers=self.auth, name="GET /v1/studies")
        self.client.get(f"/v1/studies/{self.study_id}", headers=self.auth, name="GET /v1/studies/{id}")

    @task(4)
    def my_bookings(self) -> None:
        self.client.get("/v1/bookings", headers=self.auth, name="GET /v1/bookings")

    # A WFDB record (PTB-XL 00001, 12 leads, 10 s, .hea + .dat) now and then; the worker reads it.
    @task(1)
    def upload_study(self) -> None:
        self.client.post(
            "/v1/studies",
            data=UPLOAD_BODY,
            headers={
                **self.auth,
                "Idempotency-Key": str(uuid.uuid4()),
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            },
            name="POST /v1/studies",
        )


class MobilePatient(Patient):
    wait_time = between(0.5, 1.5)


class BusyPatient(Patient):
    wait_time = constant(0)


class HealthCheck(FastHttpUser):
    wait_time = constant(0)

    @task
    def healthz(self) -> None:
        self.client.get("/healthz", name="GET /healthz")


# locust runs every user class it finds: keep only the one asked for.
for _name, _user in {"mobile": MobilePatient, "mobile-max": BusyPatient, "healthz": HealthCheck}.items():
    if _name != MODE:
        _user.abstract = True
del _name, _user  # or locust would find the last class twice
