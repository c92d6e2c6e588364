"""The local APNs and FCM servers themselves, spoken to with plain httpx clients and with firebase-admin."""

import asyncio
import json
import socket
import ssl
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import firebase_admin
import h2.config
import h2.connection
import h2.events
import h2.settings
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from firebase_admin import credentials, exceptions, messaging

from tests.push_servers import (
    ApnsTestServer,
    FcmTestServer,
    google_error,
    point_firebase_app_at,
)

T = TypeVar("T")

TEAM_ID = "TEAM123456"
KEY_ID = "KEY1234567"
TOPIC = "uz.cardioalert.app"
DEVICE = "a1b2" * 16
ALERT = {"aps": {"alert": {"title": "ECG ready", "body": "Your result is in"}}}


# --- APNs ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def apns_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def apns(tmp_path: Path, apns_key: ec.EllipticCurvePrivateKey) -> Iterator[ApnsTestServer]:
    public_key_pem = apns_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with ApnsTestServer(
        team_id=TEAM_ID, key_id=KEY_ID, public_key_pem=public_key_pem, topic=TOPIC, workdir=tmp_path
    ) as server:
        yield server


def provider_token(
    key: ec.EllipticCurvePrivateKey, *, kid: str = KEY_ID, iss: str = TEAM_ID, iat: int | None = None
) -> str:
    claims = {"iss": iss, "iat": int(time.time()) if iat is None else iat}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


def tls_context(server: ApnsTestServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(server.ca_file))


def apns_client(server: ApnsTestServer) -> httpx.Client:
    return httpx.Client(http2=True, base_url=server.base_url, verify=tls_context(server))


def apns_headers(key: ec.EllipticCurvePrivateKey, **overrides: str | None) -> dict[str, str]:
    """A valid header set; an override of None removes that header."""
    headers: dict[str, str | None] = {
        "authorization": f"bearer {provider_token(key)}",
        "apns-topic": TOPIC,
        "apns-push-type": "alert",
        "apns-priority": "10",
    }
    headers.update({name.replace("_", "-"): value for name, value in overrides.items()})
    return {name: value for name, value in headers.items() if value is not None}


def push(
    client: httpx.Client,
    key: ec.EllipticCurvePrivateKey,
    *,
    token: str = DEVICE,
    method: str = "POST",
    path: str | None = None,
    body: bytes | None = None,
    headers: dict[str, str | None] | None = None,
) -> httpx.Response:
    return client.request(
        method,
        path or f"/3/device/{token}",
        headers=apns_headers(key, **(headers or {})),
        content=json.dumps(ALERT).encode() if body is None else body,
    )


def test_a_valid_push_is_answered_200_and_recorded(
    apns: ApnsTestServer, apns_key: ec.EllipticCurvePrivateKey
) -> None:
    before = time.time()
    with apns_client(apns) as client:
        response = push(client, apns_key, headers={"apns-collapse-id": "ecg-42", "apns-expiration": "0"})

    assert response.http_version == "HTTP/2"
    assert response.status_code == 200
    assert response.content == b""
    assert uuid.UUID(response.headers["apns-id"])
    [request] = apns.requests()
    assert request.device_token == DEVICE
    assert request.payload == ALERT
    assert request.status == 200
    assert before <= request.received_at <= time.time()
    assert request.headers["apns-topic"] == TOPIC
    assert request.headers["apns-collapse-id"] == "ecg-42"
    assert not any(name.startswith(":") for name in request.headers)
    assert apns.base_url.startswith("https://127.0.0.1:")


def test_the_apns_id_sent_is_echoed(apns: ApnsTestServer, apns_key: ec.EllipticCurvePrivateKey) -> None:
    apns_id = str(uuid.uuid4()).upper()
    with apns_client(apns) as client:
        response = push(client, apns_key, headers={"apns-id": apns_id})
    assert response.status_code == 200
    assert response.headers["apns-id"] == apns_id


@pytest.mark.parametrize(
    ("request_changes", "status", "reason"),
    [
        pytest.param({"path": f"/3/devices/{DEVICE}"}, 404, "BadPath", id="path"),
        pytest.param({"path": f"/3/device/{DEVICE}/x"}, 404, "BadPath", id="path-suffix"),
        pytest.param({"method": "PUT"}, 405, "MethodNotAllowed", id="method"),
        pytest.param({"token": "ab" * 31}, 400, "BadDeviceToken", id="token-short"),
        pytest.param({"token": "ab" * 101}, 400, "BadDeviceToken", id="token-long"),
        pytest.param({"token": "zz" * 32}, 400, "BadDeviceToken", id="token-not-hex"),
        pytest.param({"headers": {"authorization": None}}, 403, "MissingProviderToken", id="no-auth"),
        pytest.param(
            {"headers": {"authorization": "basic abc"}}, 403, "InvalidProviderToken", id="not-bearer"
        ),
        pytest.param({"headers": {"apns-topic": None}}, 400, "MissingTopic", id="no-topic"),
        pytest.param({"headers": {"apns-topic": "uz.other"}}, 400, "TopicDisallowed", id="topic"),
        pytest.param({"headers": {"apns-push-type": None}}, 400, "InvalidPushType", id="no-push-type"),
        pytest.param({"headers": {"apns-push-type": "banner"}}, 400, "InvalidPushType", id="push-type"),
        pytest.param({"headers": {"apns-priority": "7"}}, 400, "BadPriority", id="priority"),
        pytest.param(
            {"headers": {"apns-push-type": "background", "apns-priority": "10"}},
            400,
            "BadPriority",
            id="background-priority-10",
        ),
        pytest.param({"headers": {"apns-collapse-id": "x" * 65}}, 400, "BadCollapseId", id="collapse-id"),
        pytest.param({"headers": {"apns-id": "not-a-uuid"}}, 400, "BadMessageId", id="apns-id"),
        pytest.param({"headers": {"apns-expiration": "soon"}}, 400, "BadExpirationDate", id="expiration"),
        pytest.param({"body": b""}, 400, "PayloadEmpty", id="empty-body"),
        pytest.param({"body": b"{not json"}, 400, "PayloadEmpty", id="not-json"),
        pytest.param({"body": b'{"alert": "no aps"}'}, 400, "PayloadEmpty", id="no-aps"),
        pytest.param({"body": b'{"aps": "x"}'}, 400, "PayloadEmpty", id="aps-not-object"),
        pytest.param(
            {"body": json.dumps({"aps": {}, "pad": "x" * 4090}).encode()}, 413, "PayloadTooLarge", id="4 KB"
        ),
    ],
)
def test_requests_breaking_apples_rules_are_refused(
    apns: ApnsTestServer,
    apns_key: ec.EllipticCurvePrivateKey,
    request_changes: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    with apns_client(apns) as client:
        response = push(client, apns_key, **request_changes)

    assert (response.status_code, response.json()) == (status, {"reason": reason})
    assert uuid.UUID(response.headers["apns-id"])
    assert [request.status for request in apns.requests()] == [status]


def test_the_limits_themselves_are_accepted(
    apns: ApnsTestServer, apns_key: ec.EllipticCurvePrivateKey
) -> None:
    padding = 4096 - len(json.dumps({"aps": {}, "pad": ""}))
    exactly_4_kb = json.dumps({"aps": {}, "pad": "x" * padding}).encode()
    with apns_client(apns) as client:
        answers = [
            push(client, apns_key, body=exactly_4_kb),
            push(client, apns_key, token="AB" * 100),
            push(client, apns_key, headers={"apns-collapse-id": "c" * 64}),
            push(client, apns_key, headers={"apns-push-type": "background", "apns-priority": "5"}),
            push(client, apns_key, headers={"apns-push-type": "liveactivity", "apns-priority": None}),
        ]
    assert len(exactly_4_kb) == 4096
    assert [response.status_code for response in answers] == [200] * 5


def test_provider_tokens_are_checked_as_apple_does(
    apns: ApnsTestServer, apns_key: ec.EllipticCurvePrivateKey
) -> None:
    now = int(time.time())
    other_key = ec.generate_private_key(ec.SECP256R1())
    cases = {
        "kid of another key": (provider_token(apns_key, kid="OTHERKEY00"), "InvalidProviderToken"),
        "another team": (provider_token(apns_key, iss="OTHERTEAM0"), "InvalidProviderToken"),
        "signed by another key": (provider_token(other_key), "InvalidProviderToken"),
        "HS256": (
            jwt.encode({"iss": TEAM_ID, "iat": now}, "s" * 32, algorithm="HS256", headers={"kid": KEY_ID}),
            "InvalidProviderToken",
        ),
        "no iat": (
            jwt.encode({"iss": TEAM_ID}, apns_key, algorithm="ES256", headers={"kid": KEY_ID}),
            "InvalidProviderToken",
        ),
        "iat in milliseconds": (provider_token(apns_key, iat=now * 1000), "InvalidProviderToken"),
        "not a JWT": ("not.a.jwt", "InvalidProviderToken"),
        "over an hour old": (provider_token(apns_key, iat=now - 3601), "ExpiredProviderToken"),
    }
    with apns_client(apns) as client:
        answers = {
            name: push(client, apns_key, headers={"authorization": f"bearer {token}"})
            for name, (token, _) in cases.items()
        }
        nearly_an_hour_old = push(
            client, apns_key, headers={"authorization": f"bearer {provider_token(apns_key, iat=now - 3500)}"}
        )

    assert {name: (answer.status_code, answer.json()["reason"]) for name, answer in answers.items()} == {
        name: (403, reason) for name, (_, reason) in cases.items()
    }
    assert nearly_an_hour_old.status_code == 200


def test_scripted_answers_come_first_then_the_token_sets(
    apns: ApnsTestServer, apns_key: ec.EllipticCurvePrivateKey
) -> None:
    gone, foreign = "c3" * 32, "d4" * 32
    apns.scripted[DEVICE] = [(503, "ServiceUnavailable"), (429, "TooManyRequests")]
    apns.scripted[gone] = [(500, "InternalServerError")]
    apns.unregistered.add(gone)
    apns.other_app_tokens.add(foreign)
    with apns_client(apns) as client:
        first, second, third = (push(client, apns_key) for _ in range(3))
        scripted_gone, unregistered = (push(client, apns_key, token=gone) for _ in range(2))
        unregistered_upper = push(client, apns_key, token=gone.upper())
        not_for_topic = push(client, apns_key, token=foreign)

    assert (first.status_code, first.json()) == (503, {"reason": "ServiceUnavailable"})
    assert (second.status_code, second.json()) == (429, {"reason": "TooManyRequests"})
    assert third.status_code == 200
    assert scripted_gone.status_code == 500
    assert unregistered.status_code == unregistered_upper.status_code == 410
    assert unregistered.json()["reason"] == "Unregistered"
    assert abs(unregistered.json()["timestamp"] - time.time() * 1000) < 60_000
    assert (not_for_topic.status_code, not_for_topic.json()) == (400, {"reason": "DeviceTokenNotForTopic"})
    assert apns.scripted[DEVICE] == []


def test_distinct_provider_tokens_are_collected(
    apns: ApnsTestServer, apns_key: ec.EllipticCurvePrivateKey
) -> None:
    first, second = provider_token(apns_key), provider_token(apns_key, iat=int(time.time()) - 60)
    with apns_client(apns) as client:
        for token in (first, first, second):
            push(client, apns_key, headers={"authorization": f"bearer {token}"})
    assert apns.distinct_provider_tokens() == {first, second}


def test_delayed_streams_are_multiplexed_on_one_connection(
    apns: ApnsTestServer, apns_key: ec.EllipticCurvePrivateKey
) -> None:
    """300 requests answered after 1 s each. httpx runs at most 100 streams at once per connection (its own
    h2 setting, whatever the server allows), so they go in waves of 100 on one connection: about 3 s, not
    300 s. 300 bodies near 4 KB also far exceed HTTP/2's default 64 KB connection window."""
    apns.response_delay = 1.0
    body = json.dumps({"aps": {"alert": "x"}, "pad": "y" * 3900}).encode()

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(http2=True, base_url=apns.base_url, verify=tls_context(apns)) as client:
            headers = apns_headers(apns_key)
            return await asyncio.gather(
                *(client.post(f"/3/device/{DEVICE}", headers=headers, content=body) for _ in range(300))
            )

    started = time.monotonic()
    responses = asyncio.run(send_all())
    elapsed = time.monotonic() - started

    assert [response.status_code for response in responses] == [200] * 300
    assert apns.connections_opened == 1
    first_wave = sorted(request.received_at for request in apns.requests())[:100]
    assert first_wave[-1] - first_wave[0] < apns.response_delay  # 100 were waiting at once
    assert elapsed < 3 * apns.response_delay + 3


def test_the_server_allows_1000_streams_and_large_windows(apns: ApnsTestServer) -> None:
    """httpx never uses more than 100 streams, so read the server's SETTINGS with h2 directly."""
    port = int(apns.base_url.rsplit(":", 1)[1])
    context = tls_context(apns)
    context.set_alpn_protocols(["h2"])
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(client.data_to_send())
        settings = None
        while settings is None:
            events = client.receive_data(tls.recv(65_536))
            settings = next((e for e in events if isinstance(e, h2.events.RemoteSettingsChanged)), None)
    advertised = {code: change.new_value for code, change in settings.changed_settings.items()}
    assert advertised[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 1000
    assert advertised[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] >= 1 << 20


def test_stop_drops_connections_and_start_reuses_the_port(
    apns: ApnsTestServer, apns_key: ec.EllipticCurvePrivateKey
) -> None:
    base_url = apns.base_url
    with apns_client(apns) as client:
        assert push(client, apns_key).status_code == 200
        apns.stop()
        with pytest.raises(httpx.TransportError):
            push(client, apns_key)
        apns.start()
        assert apns.base_url == base_url
        assert push(client, apns_key).status_code == 200
    assert apns.connections_opened == 2


def test_the_certificate_is_for_127_0_0_1_and_localhost_and_alpn_is_h2(apns: ApnsTestServer) -> None:
    port = int(apns.base_url.rsplit(":", 1)[1])
    context = tls_context(apns)
    context.set_alpn_protocols(["h2"])
    for name in ("127.0.0.1", "localhost"):
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            assert tls.selected_alpn_protocol() == "h2"
    with pytest.raises(httpx.ConnectError), httpx.Client(http2=True) as untrusting:
        untrusting.get(apns.base_url)


# --- FCM ----------------------------------------------------------------------------------------

PROJECT = "cardioalert-test"
SEND_PATH = f"/v1/projects/{PROJECT}/messages:send"


@pytest.fixture
def fcm() -> Iterator[FcmTestServer]:
    with FcmTestServer(project_id=PROJECT) as server:
        yield server


@pytest.fixture
def service_account(fcm: FcmTestServer, tmp_path: Path) -> Path:
    return fcm.write_service_account(tmp_path / "service-account.json")


@pytest.fixture
def firebase_app(fcm: FcmTestServer, service_account: Path) -> Iterator[firebase_admin.App]:
    app = firebase_admin.initialize_app(
        credentials.Certificate(str(service_account)), name=f"push-servers-{uuid.uuid4()}"
    )
    point_firebase_app_at(app, fcm)
    yield app
    firebase_admin.delete_app(app)


def access_token(fcm: FcmTestServer, service_account: Path) -> str:
    """The JWT-bearer grant google-auth makes, done by hand."""
    account = json.loads(service_account.read_text(encoding="utf-8"))
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": account["client_email"],
            "aud": account["token_uri"],
            "scope": "https://www.googleapis.com/auth/firebase.messaging",
            "iat": now,
            "exp": now + 3600,
        },
        account["private_key"],
        algorithm="RS256",
        headers={"kid": account["private_key_id"]},
    )
    response = httpx.post(
        account["token_uri"],
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
    )
    assert response.status_code == 200
    answer = response.json()
    assert (answer["token_type"], answer["expires_in"]) == ("Bearer", 3600)
    return answer["access_token"]


def fcm_send(fcm: FcmTestServer, token: str | None, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{fcm.base_url}{SEND_PATH}", json=body, headers=headers)


def messages(*tokens: str) -> list[messaging.Message]:
    # firebase-admin 7.x deprecates Message.token for Message.fid; registration tokens still go in `token`.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [messaging.Message(token=token, data={"kind": "ecg_ready"}) for token in tokens]


def run_async(app: firebase_admin.App, work: Callable[[], Awaitable[T]]) -> T:
    """Runs `work` on a fresh event loop and closes firebase-admin's async HTTP client on that same loop:
    the client's connections belong to the loop that opened them, so delete_app cannot close them later."""

    async def main() -> T:
        try:
            return await work()
        finally:
            await messaging._get_messaging_service(app)._async_client.aclose()

    return asyncio.run(main())


def test_token_endpoint_issues_access_tokens_for_a_signed_grant(
    fcm: FcmTestServer, service_account: Path
) -> None:
    token = access_token(fcm, service_account)
    assert fcm.issued_access_tokens() == [token]

    wrong_grant = httpx.post(f"{fcm.base_url}/token", data={"grant_type": "password", "assertion": "x"})
    forged = httpx.post(
        f"{fcm.base_url}/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": jwt.encode({"iss": "x"}, "k" * 32, algorithm="HS256"),
        },
    )
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "unsupported_grant_type")
    assert (forged.status_code, forged.json()["error"]) == (400, "invalid_grant")
    assert fcm.issued_access_tokens() == [token]


def test_send_needs_an_issued_access_token(fcm: FcmTestServer, service_account: Path) -> None:
    body = {"message": {"token": "device-1", "notification": {"title": "Hi"}}}
    missing = fcm_send(fcm, None, body)
    made_up = fcm_send(fcm, "ya29.made-up", body)
    accepted = fcm_send(fcm, access_token(fcm, service_account), body)

    assert missing.status_code == made_up.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
    assert accepted.status_code == 200
    assert accepted.json()["name"].startswith(f"projects/{PROJECT}/messages/")
    assert [request.status for request in fcm.requests()] == [401, 401, 200]
    assert fcm.requests()[-1].message == body["message"]


def test_send_answers_in_fcm_v1_error_format(fcm: FcmTestServer, service_account: Path) -> None:
    token = access_token(fcm, service_account)
    fcm.unregistered.add("gone")
    fcm.invalid.add("garbled")
    fcm.scripted["busy"] = [(503, "UNAVAILABLE"), (429, "QUOTA_EXCEEDED"), (500, "INTERNAL")]

    gone = fcm_send(fcm, token, {"message": {"token": "gone"}})
    garbled = fcm_send(fcm, token, {"message": {"token": "garbled"}})
    busy = [fcm_send(fcm, token, {"message": {"token": "busy"}}).json()["error"] for _ in range(3)]
    then_fine = fcm_send(fcm, token, {"message": {"token": "busy"}, "validate_only": True})

    assert gone.status_code == 404
    assert gone.json() == {
        "error": {
            "code": 404,
            "message": "Requested entity was not found.",
            "status": "NOT_FOUND",
            "details": [
                {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}
            ],
        }
    }
    assert garbled.status_code == 400
    assert garbled.json()["error"]["details"][0]["errorCode"] == "INVALID_ARGUMENT"
    assert [(error["code"], error["status"], error["details"][0]["errorCode"]) for error in busy] == [
        (503, "UNAVAILABLE", "UNAVAILABLE"),
        (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
        (500, "INTERNAL", "INTERNAL"),
    ]
    assert then_fine.status_code == 200
    assert fcm.requests()[-1].validate_only is True


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"message": {"token": "a", "topic": "news"}}, id="two-targets"),
        pytest.param({"message": {"notification": {"title": "Hi"}}}, id="no-target"),
        pytest.param({"message": {"token": ""}}, id="empty-token"),
        pytest.param({"validate_only": False}, id="no-message"),
    ],
)
def test_a_message_needs_exactly_one_target(
    fcm: FcmTestServer, service_account: Path, body: dict[str, Any]
) -> None:
    response = fcm_send(fcm, access_token(fcm, service_account), body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["status"], error["details"][0]["errorCode"]) == ("INVALID_ARGUMENT", "INVALID_ARGUMENT")


def test_wrong_project_and_unknown_paths(fcm: FcmTestServer, service_account: Path) -> None:
    token = access_token(fcm, service_account)
    other_project = httpx.post(
        f"{fcm.base_url}/v1/projects/other/messages:send",
        json={"message": {"token": "a"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    unknown = httpx.post(f"{fcm.base_url}/v1/whatever", json={})
    assert other_project.json()["error"]["status"] == "PERMISSION_DENIED"
    assert unknown.json() == google_error(404)


def test_firebase_admin_send_each_works_end_to_end(
    fcm: FcmTestServer, firebase_app: firebase_admin.App
) -> None:
    fcm.unregistered.add("gone")
    fcm.invalid.add("garbled")
    batch = [*messages("device-1", "gone", "garbled"), messaging.Message(fid="installation-1")]

    result = messaging.send_each(batch, app=firebase_app)

    ok, gone, garbled, by_fid = result.responses
    assert ok.success
    assert ok.message_id.startswith(f"projects/{PROJECT}/messages/")
    assert by_fid.success
    assert isinstance(gone.exception, messaging.UnregisteredError)
    assert isinstance(garbled.exception, exceptions.InvalidArgumentError)
    assert fcm.issued_access_tokens()  # the OAuth grant went to the local /token
    assert sorted(request.message.get("token") or request.message["fid"] for request in fcm.requests()) == [
        "device-1",
        "garbled",
        "gone",
        "installation-1",
    ]
    assert {request.validate_only for request in fcm.requests()} == {False}


def test_firebase_admin_send_each_async_works_end_to_end(
    fcm: FcmTestServer, firebase_app: firebase_admin.App
) -> None:
    fcm.unregistered.add("gone")
    fcm.invalid.add("garbled")

    result = run_async(
        firebase_app,
        lambda: messaging.send_each_async(
            messages("device-1", "gone", "garbled"), dry_run=False, app=firebase_app
        ),
    )

    ok, gone, garbled = result.responses
    assert ok.success
    assert isinstance(gone.exception, messaging.UnregisteredError)
    assert isinstance(garbled.exception, exceptions.InvalidArgumentError)
    assert fcm.issued_access_tokens()
    assert len(fcm.requests()) == 3


def test_firebase_admin_retries_500_and_503_itself_but_not_429(
    fcm: FcmTestServer, firebase_app: firebase_admin.App
) -> None:
    """What our dispatcher sits on top of: both paths make 1 + 4 attempts on 500/503 (about 7 s of
    backoff, 0+1+2+4) and one on 429. The sync and async sends run side by side to share that wait."""
    for path in ("sync", "async"):
        fcm.scripted[f"down-{path}"] = [(503, "UNAVAILABLE")] * 5
        fcm.scripted[f"blip-{path}"] = [(503, "UNAVAILABLE")]
        fcm.scripted[f"quota-{path}"] = [(429, "QUOTA_EXCEEDED")]

    def batch(path: str) -> list[messaging.Message]:
        return messages(f"down-{path}", f"blip-{path}", f"quota-{path}")

    async def both() -> list[messaging.BatchResponse]:
        return list(
            await asyncio.gather(
                asyncio.to_thread(messaging.send_each, batch("sync"), app=firebase_app),
                messaging.send_each_async(batch("async"), dry_run=False, app=firebase_app),
            )
        )

    results = run_async(firebase_app, both)

    attempts: dict[str, int] = {}
    for request in fcm.requests():
        attempts[request.message["token"]] = attempts.get(request.message["token"], 0) + 1
    for path, result in zip(("sync", "async"), results, strict=True):
        down, blip, quota = result.responses
        assert isinstance(down.exception, exceptions.UnavailableError), path
        assert blip.success, path
        assert isinstance(quota.exception, messaging.QuotaExceededError), path
        assert (attempts[f"down-{path}"], attempts[f"blip-{path}"], attempts[f"quota-{path}"]) == (5, 2, 1)
