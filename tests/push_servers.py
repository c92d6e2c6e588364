"""Local stand-ins for the two push services, so the senders are tested over real sockets on loopback.

ApnsTestServer speaks Apple's provider API (HTTP/2 over TLS, token auth) and enforces the request rules
Apple documents. FcmTestServer speaks the Firebase Cloud Messaging HTTP v1 API over plain HTTP/1.1,
together with the OAuth2 token endpoint google-auth calls for a service account.
"""

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import re
import secrets
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import firebase_admin
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from firebase_admin import messaging

# --- APNs ---------------------------------------------------------------------------------------

APNS_PUSH_TYPES = frozenset(
    {
        "alert",
        "background",
        "voip",
        "complication",
        "fileprovider",
        "mdm",
        "liveactivity",
        "pushtotalk",
        "location",
    }
)
APNS_MAX_PAYLOAD_BYTES = 4096
APNS_MAX_COLLAPSE_ID_BYTES = 64
PROVIDER_TOKEN_MAX_AGE_S = 3600
# A token "issued" further ahead than this is a sender bug (milliseconds instead of seconds, say).
PROVIDER_TOKEN_CLOCK_SKEW_S = 60

_DEVICE_PATH = re.compile(r"/3/device/([^/?#]*)")
_DEVICE_TOKEN = re.compile(r"[0-9a-fA-F]{64,200}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_INTEGER = re.compile(r"[0-9]+")

# Large windows so that hundreds of concurrent ~4 KB bodies never wait for WINDOW_UPDATE round trips.
_MAX_CONCURRENT_STREAMS = 1000
_STREAM_WINDOW = 1 << 20
_CONNECTION_WINDOW = 1 << 26
_DEFAULT_WINDOW = 65_535
_READ_SIZE = 1 << 16


@dataclass
class ApnsRequest:
    device_token: str
    headers: dict[str, str]  # lower-case names, HTTP/2 pseudo-headers excluded
    payload: dict[str, Any]  # parsed JSON body ({} when it was not a JSON object)
    received_at: float  # time.time() when the request was complete
    status: int  # what the server answered


@dataclass
class _Stream:
    method: str
    path: str
    headers: dict[str, str]
    body: bytearray = field(default_factory=bytearray)


class _Rejected(Exception):
    """A request APNs refuses: the HTTP status and the `reason` of the JSON body."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _find(token: str, tokens: set[str] | dict[str, Any]) -> str | None:
    """The key under which `token` is listed; tokens are hex, so case does not matter."""
    for candidate in (token, token.lower(), token.upper()):
        if candidate in tokens:
            return candidate
    return None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class ApnsTestServer:
    """APNs provider API on https://127.0.0.1:<port>, served by asyncio + h2 in a background thread."""

    def __init__(
        self, *, team_id: str, key_id: str, public_key_pem: bytes, topic: str, workdir: Path
    ) -> None:
        self.team_id = team_id
        self.key_id = key_id
        self.topic = topic
        public_key = serialization.load_pem_public_key(public_key_pem)
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name != "secp256r1":
            raise ValueError("APNs signing keys are EC P-256 (ES256)")
        self._public_key = public_key
        self.ca_file, cert_file, key_file = _write_tls_files(workdir)
        self._ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._ssl_context.load_cert_chain(cert_file, key_file)
        self._ssl_context.set_alpn_protocols(["h2"])

        self.received: list[ApnsRequest] = []
        self.unregistered: set[str] = set()
        self.other_app_tokens: set[str] = set()
        self.scripted: dict[str, list[tuple[int, str]]] = {}
        self.response_delay: float = 0.0
        # Apple treats rapid connect/disconnect as abuse; tests can check that a sender reuses its connection.
        self.connections_opened = 0

        self._lock = threading.Lock()
        self._provider_tokens: set[str] = set()
        # JWT -> its iat when signature, kid and iss check out, else the rejection reason.
        self._verdicts: dict[str, int | str] = {}
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_ApnsConnection] = set()

    @property
    def base_url(self) -> str:
        if not self._port:
            raise RuntimeError("ApnsTestServer has not been started")
        return f"https://127.0.0.1:{self._port}"

    def start(self) -> None:
        if self._loop is not None:
            return
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="apns-test-server", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._listen(), loop).result(timeout=10)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            raise
        self._loop, self._thread = loop, thread

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> "ApnsTestServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def requests(self) -> list[ApnsRequest]:
        with self._lock:
            return list(self.received)

    def distinct_provider_tokens(self) -> set[str]:
        with self._lock:
            return set(self._provider_tokens)

    # Everything below runs on the server's event loop.

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve_connection, "127.0.0.1", self._port, ssl=self._ssl_context, backlog=1024
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        connections = list(self._connections)
        for connection in connections:
            connection.abort()
        await asyncio.gather(*(connection.finished.wait() for connection in connections))

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _ApnsConnection(self, reader, writer)
        self._connections.add(connection)
        self.connections_opened += 1
        try:
            await connection.serve()
        finally:
            self._connections.discard(connection)

    def _handle_request(self, stream: _Stream) -> tuple[int, bytes, str]:
        """Status, body and apns-id for a complete request; records it."""
        apns_id = stream.headers.get("apns-id", "")
        if not _UUID.fullmatch(apns_id):
            apns_id = str(uuid.uuid4())
        match = _DEVICE_PATH.fullmatch(stream.path)
        device_token = match.group(1) if match else ""
        payload = _json_object(bytes(stream.body))
        try:
            self._check(stream, device_token if match else None, payload)
            status, reason = self._outcome(device_token)
        except _Rejected as rejected:
            status, reason = rejected.status, rejected.reason
        body = b""
        if reason:
            answer: dict[str, Any] = {"reason": reason}
            if status == 410:
                answer["timestamp"] = int(time.time() * 1000)
            body = json.dumps(answer).encode()
        request = ApnsRequest(
            device_token=device_token,
            headers=dict(stream.headers),
            payload=payload or {},
            received_at=time.time(),
            status=status,
        )
        with self._lock:
            self.received.append(request)
        return status, body, apns_id

    def _check(self, stream: _Stream, device_token: str | None, payload: dict[str, Any] | None) -> None:
        """Raises _Rejected for the first rule the request breaks: route, token, auth, headers, body."""
        if device_token is None:
            raise _Rejected(404, "BadPath")
        if stream.method != "POST":
            raise _Rejected(405, "MethodNotAllowed")
        if not _DEVICE_TOKEN.fullmatch(device_token):
            raise _Rejected(400, "BadDeviceToken")
        self._check_provider_token(stream.headers.get("authorization"))
        self._check_headers(stream.headers)
        self._check_payload(len(stream.body), payload)

    def _check_provider_token(self, authorization: str | None) -> None:
        if not authorization:
            raise _Rejected(403, "MissingProviderToken")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _Rejected(403, "InvalidProviderToken")
        with self._lock:
            self._provider_tokens.add(token)
        verdict = self._verdicts.get(token)
        if verdict is None:
            verdict = self._verdicts[token] = self._verify_provider_token(token)
        if isinstance(verdict, str):
            raise _Rejected(403, verdict)
        now = time.time()
        if verdict > now + PROVIDER_TOKEN_CLOCK_SKEW_S:
            raise _Rejected(403, "InvalidProviderToken")
        if now - verdict > PROVIDER_TOKEN_MAX_AGE_S:
            raise _Rejected(403, "ExpiredProviderToken")

    def _verify_provider_token(self, token: str) -> int | str:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "ES256" or header.get("kid") != self.key_id:
                return "InvalidProviderToken"
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=["ES256"],
                issuer=self.team_id,
                # Age is judged per request against APNs' one-hour rule, not by PyJWT.
                options={"require": ["iss", "iat"], "verify_iat": False, "verify_exp": False},
            )
        except jwt.InvalidTokenError:
            return "InvalidProviderToken"
        iat = claims["iat"]
        if not isinstance(iat, int) or isinstance(iat, bool):
            return "InvalidProviderToken"
        return iat

    def _check_headers(self, headers: dict[str, str]) -> None:
        topic = headers.get("apns-topic")
        if not topic:
            raise _Rejected(400, "MissingTopic")
        if topic != self.topic:
            raise _Rejected(400, "TopicDisallowed")
        push_type = headers.get("apns-push-type")
        if push_type not in APNS_PUSH_TYPES:
            raise _Rejected(400, "InvalidPushType")
        priority = headers.get("apns-priority")
        if priority is not None and (
            priority not in {"1", "5", "10"} or (push_type == "background" and priority == "10")
        ):
            raise _Rejected(400, "BadPriority")
        if len(headers.get("apns-collapse-id", "").encode()) > APNS_MAX_COLLAPSE_ID_BYTES:
            raise _Rejected(400, "BadCollapseId")
        apns_id = headers.get("apns-id")
        if apns_id is not None and not _UUID.fullmatch(apns_id):
            raise _Rejected(400, "BadMessageId")
        expiration = headers.get("apns-expiration")
        if expiration is not None and not _INTEGER.fullmatch(expiration):
            raise _Rejected(400, "BadExpirationDate")

    @staticmethod
    def _check_payload(size: int, payload: dict[str, Any] | None) -> None:
        if not size:
            raise _Rejected(400, "PayloadEmpty")
        if size > APNS_MAX_PAYLOAD_BYTES:
            raise _Rejected(413, "PayloadTooLarge")
        # Apple has no reason for unparsable JSON; PayloadEmpty is what the senders should treat it as.
        if payload is None or not isinstance(payload.get("aps"), dict):
            raise _Rejected(400, "PayloadEmpty")

    def _outcome(self, device_token: str) -> tuple[int, str]:
        with self._lock:
            key = _find(device_token, self.scripted)
            if key is not None and self.scripted[key]:
                return self.scripted[key].pop(0)
        if _find(device_token, self.unregistered) is not None:
            return 410, "Unregistered"
        if _find(device_token, self.other_app_tokens) is not None:
            return 400, "DeviceTokenNotForTopic"
        return 200, ""


class _ApnsConnection:
    """One HTTP/2 connection: feeds bytes to h2, answers each stream when its request is complete."""

    def __init__(
        self, server: ApnsTestServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._server = server
        self._reader = reader
        self._writer = writer
        self._h2 = h2.connection.H2Connection(
            # Inbound header validation costs about a third of the server's time per request; the clients
            # under test use h2, which already validates what it sends.
            h2.config.H2Configuration(
                client_side=False, header_encoding="utf-8", validate_inbound_headers=False
            )
        )
        self._h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: _MAX_CONCURRENT_STREAMS,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _STREAM_WINDOW,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65_536,
            },
        )
        self._streams: dict[int, _Stream] = {}
        self._unsent: dict[int, bytes] = {}  # response bodies waiting for the client's flow-control window
        self._delayed: set[asyncio.Task[None]] = set()
        self.finished = asyncio.Event()

    def abort(self) -> None:
        for task in self._delayed:
            task.cancel()
        self._writer.transport.abort()

    async def serve(self) -> None:
        try:
            self._h2.initiate_connection()
            self._h2.increment_flow_control_window(_CONNECTION_WINDOW - _DEFAULT_WINDOW)
            self._flush()
            while data := await self._reader.read(_READ_SIZE):
                events = self._h2.receive_data(data)
                terminated = any(isinstance(event, h2.events.ConnectionTerminated) for event in events)
                for event in events:
                    self._handle(event)
                self._flush()
                await self._writer.drain()
                if terminated:
                    break
        except h2.exceptions.ProtocolError:
            self._flush()  # the GOAWAY h2 queued; a client that breaks the protocol loses the connection
        except OSError:
            pass  # the client went away
        finally:
            for task in self._delayed:
                task.cancel()
            await asyncio.gather(*self._delayed, return_exceptions=True)
            self._writer.transport.abort()
            self.finished.set()

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            headers = dict(event.headers or [])
            self._streams[event.stream_id] = _Stream(
                method=headers.get(":method", ""),
                path=headers.get(":path", ""),
                headers={name: value for name, value in headers.items() if not name.startswith(":")},
            )
        elif isinstance(event, h2.events.DataReceived):
            stream = self._streams.get(event.stream_id)
            if stream is not None and event.data:
                stream.body += event.data
            self._h2.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self._streams.pop(event.stream_id, None)
            if stream is not None:
                self._answer(event.stream_id, stream)
        elif isinstance(event, h2.events.StreamReset):
            self._streams.pop(event.stream_id, None)
            self._unsent.pop(event.stream_id, None)
        elif isinstance(event, h2.events.WindowUpdated):
            for stream_id, body in list(self._unsent.items()):
                del self._unsent[stream_id]
                with contextlib.suppress(h2.exceptions.StreamClosedError):
                    self._send_body(stream_id, body)

    def _answer(self, stream_id: int, stream: _Stream) -> None:
        status, body, apns_id = self._server._handle_request(stream)
        delay = self._server.response_delay
        if delay <= 0:
            self._respond(stream_id, status, body, apns_id)
            return
        # A task per stream, so one slow answer holds back no other stream.
        task = asyncio.get_running_loop().create_task(
            self._respond_later(delay, stream_id, status, body, apns_id)
        )
        self._delayed.add(task)
        task.add_done_callback(self._delayed.discard)

    async def _respond_later(
        self, delay: float, stream_id: int, status: int, body: bytes, apns_id: str
    ) -> None:
        await asyncio.sleep(delay)
        self._respond(stream_id, status, body, apns_id)
        self._flush()

    def _respond(self, stream_id: int, status: int, body: bytes, apns_id: str) -> None:
        headers = [(":status", str(status)), ("apns-id", apns_id)]
        if body:
            headers += [("content-type", "application/json"), ("content-length", str(len(body)))]
        try:
            self._h2.send_headers(stream_id, headers, end_stream=not body)
            if body:
                self._send_body(stream_id, body)
        except h2.exceptions.StreamClosedError:
            pass  # the client reset the stream while the answer was pending

    def _send_body(self, stream_id: int, body: bytes) -> None:
        size = min(self._h2.local_flow_control_window(stream_id), self._h2.max_outbound_frame_size)
        if size <= 0:
            self._unsent[stream_id] = body
            return
        chunk, rest = body[:size], body[size:]
        self._h2.send_data(stream_id, chunk, end_stream=not rest)
        if rest:
            self._unsent[stream_id] = rest

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)


def _write_tls_files(workdir: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA and a server certificate it signed for 127.0.0.1 and localhost.

    Returns (ca_file, cert_file, key_file). Names carry a random suffix so that servers may share
    a workdir.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CardioAlert APNs test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    suffix = secrets.token_hex(4)
    ca_file = workdir / f"apns-ca-{suffix}.pem"
    cert_file = workdir / f"apns-server-{suffix}.pem"
    key_file = workdir / f"apns-server-key-{suffix}.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_file, cert_file, key_file


# --- FCM ----------------------------------------------------------------------------------------

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# firebase-admin 7.x sends `fid` (Firebase installation ID) and deprecates `token`; FCM accepts either.
FCM_TARGETS = ("token", "fid", "topic", "condition")

# Google's canonical status for each HTTP status, and the messages FCM v1 puts beside them.
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_GOOGLE_MESSAGE = {
    400: "Request contains an invalid argument.",
    401: (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
        "other valid authentication credential. "
        "See https://developers.google.com/identity/sign-in/web/devconsole-project."
    ),
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}
_RETRY_AFTER_STATUSES = frozenset({429, 500, 503})
_SEND_PATH = re.compile(r"/v1/projects/([^/]+)/messages:send")


def google_error(status: int, error_code: str | None = None, message: str | None = None) -> dict[str, Any]:
    """An error body in Google's format; with `error_code`, the FcmError detail FCM v1 adds."""
    error: dict[str, Any] = {
        "code": status,
        "message": message or _GOOGLE_MESSAGE.get(status, "Unknown error."),
        "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
    }
    if error_code:
        error["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": error_code}]
    return {"error": error}


@dataclass
class FcmRequest:
    project_id: str
    message: dict[str, Any]  # the "message" object of the v1 request body ({} when there was none)
    validate_only: bool
    received_at: float
    status: int


@dataclass(frozen=True)
class _ServiceAccount:
    client_email: str
    public_key: rsa.RSAPublicKey


class _FcmHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # send_each opens up to 100 connections at once; the default of 5 drops SYNs

    def __init__(self, fcm: "FcmTestServer", port: int) -> None:
        self.fcm = fcm
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _FcmHandler)


class _FcmHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real clients expect
    server: _FcmHttpServer

    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        super().finish()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, answer = self.server.fcm._handle_post(self.path, self.headers.get("Authorization", ""), body)
        self._reply(status, answer)

    def do_GET(self) -> None:
        self._reply(404, google_error(404))

    def _reply(self, status: int, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        retry_after = self.server.fcm.retry_after
        if retry_after is not None and status in _RETRY_AFTER_STATUSES:
            self.send_header("Retry-After", str(retry_after))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass  # keep test output quiet


class FcmTestServer:
    """FCM HTTP v1 API and Google's OAuth2 token endpoint on http://127.0.0.1:<port>."""

    def __init__(self, *, project_id: str = "cardioalert-test") -> None:
        self.project_id = project_id
        self.received: list[FcmRequest] = []
        self.unregistered: set[str] = set()
        self.invalid: set[str] = set()
        self.scripted: dict[str, list[tuple[int, str]]] = {}
        # Seconds to put in a Retry-After header on 429, 500 and 503 answers (FCM sends one at times).
        self.retry_after: int | None = None
        self._lock = threading.Lock()
        self._accounts: dict[str, _ServiceAccount] = {}  # private_key_id -> account
        self._access_tokens: list[str] = []
        self._port = 0
        self._httpd: _FcmHttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if not self._port:
            raise RuntimeError("FcmTestServer has not been started")
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        if self._httpd is not None:
            return
        self._httpd = _FcmHttpServer(self, self._port)
        self._port = self._httpd.server_address[1]
        # A short poll interval keeps stop() quick; serve_forever only notices shutdown() between polls.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fcm-test-server",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is None or self._thread is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        # Keep-alive connections outlive the listener; drop them so clients see the service gone.
        with self._httpd.sockets_lock:
            open_sockets = list(self._httpd.open_sockets)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=10)
        self._httpd = self._thread = None

    def __enter__(self) -> "FcmTestServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def requests(self) -> list[FcmRequest]:
        with self._lock:
            return list(self.received)

    def issued_access_tokens(self) -> list[str]:
        """Access tokens /token handed out, oldest first."""
        with self._lock:
            return list(self._access_tokens)

    def write_service_account(self, path: Path) -> Path:
        """A service-account JSON with a fresh RSA key whose token_uri is this server's /token."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_hex(20)
        client_email = f"firebase-adminsdk-test@{self.project_id}.iam.gserviceaccount.com"
        with self._lock:
            self._accounts[key_id] = _ServiceAccount(client_email, key.public_key())
        private_key = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        account = {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": key_id,
            "private_key": private_key,
            "client_email": client_email,
            "client_id": str(secrets.randbelow(10**21)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": f"{self.base_url}/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/test",
            "universe_domain": "googleapis.com",
        }
        path.write_text(json.dumps(account, indent=2), encoding="utf-8")
        return path

    def _handle_post(self, path: str, authorization: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Status and JSON answer for a POST; runs on the request's handler thread."""
        if path == "/token":
            return self._issue_token(body)
        match = _SEND_PATH.fullmatch(path)
        if match is None:
            return 404, google_error(404)
        project_id = match.group(1)
        request = _json_object(body) or {}
        message = request.get("message")
        status, answer = self._send(project_id, authorization, request)
        record = FcmRequest(
            project_id=project_id,
            message=message if isinstance(message, dict) else {},
            validate_only=request.get("validate_only") is True,
            received_at=time.time(),
            status=status,
        )
        with self._lock:
            self.received.append(record)
        return status, answer

    def _issue_token(self, body: bytes) -> tuple[int, dict[str, Any]]:
        form = parse_qs(body.decode("utf-8", "replace"))
        if form.get("grant_type", [""])[0] != JWT_BEARER_GRANT:
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}
        assertion = form.get("assertion", [""])[0]
        invalid = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        try:
            with self._lock:
                account = self._accounts.get(jwt.get_unverified_header(assertion).get("kid", ""))
            if account is None:
                return 400, invalid
            jwt.decode(
                assertion,
                account.public_key,
                algorithms=["RS256"],
                # google-auth always names Google's endpoint as the audience, whatever token_uri says.
                audience=[GOOGLE_TOKEN_AUDIENCE, f"{self.base_url}/token"],
                issuer=account.client_email,
                options={"require": ["iss", "aud", "iat", "exp"]},
                leeway=30,
            )
        except jwt.InvalidTokenError:
            return 400, invalid
        access_token = f"ya29.test-{secrets.token_urlsafe(32)}"
        with self._lock:
            self._access_tokens.append(access_token)
        return 200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600}

    def _send(
        self, project_id: str, authorization: str, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        scheme, _, access_token = authorization.partition(" ")
        with self._lock:
            authorized = scheme.lower() == "bearer" and access_token in self._access_tokens
        if not authorized:
            return 401, google_error(401)
        if project_id != self.project_id:
            return 403, google_error(403, message=f"Permission denied on project {project_id}.")
        message = request.get("message")
        if not isinstance(message, dict):
            return 400, google_error(400, "INVALID_ARGUMENT", "The message is missing.")
        targets = [name for name in FCM_TARGETS if isinstance(message.get(name), str) and message[name]]
        if len(targets) != 1:
            return 400, google_error(
                400, "INVALID_ARGUMENT", "Exactly one of token, fid, topic or condition must be set."
            )
        status, error_code = self._outcome(message[targets[0]])
        if status != 200:
            return status, google_error(status, error_code)
        message_id = f"0:{time.time_ns() // 1000}%{secrets.token_hex(8)}"
        return 200, {"name": f"projects/{project_id}/messages/{message_id}"}

    def _outcome(self, target: str) -> tuple[int, str]:
        with self._lock:
            queue = self.scripted.get(target)
            if queue:
                return queue.pop(0)
        if target in self.unregistered:
            return 404, "UNREGISTERED"
        if target in self.invalid:
            return 400, "INVALID_ARGUMENT"
        return 200, ""


def point_firebase_app_at(app: firebase_admin.App, server: FcmTestServer) -> None:
    """firebase-admin has no endpoint setting; aim the app's messaging service at the local server (its
    HTTP transport stays real).

    The app's credential must come from `server.write_service_account`, whose token_uri is the server's.
    """
    service = messaging._get_messaging_service(app)
    service._fcm_url = f"{server.base_url}/v1/projects/{app.project_id}/messages:send"
    # Production sends through a 100-connection pool mounted for fcm.googleapis.com; mount the same
    # adapter (same pool size, same retry policy) for the local address so send_each behaves alike.
    session = service._client.session
    session.mount(f"{server.base_url}/", session.get_adapter("https://fcm.googleapis.com/"))
