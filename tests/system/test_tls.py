"""Device identities and mutual TLS between peers, over real loopback with aiohttp.

Every test server listens on 127.0.0.1 with an ephemeral port; every network
wait is bounded by ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from roamsync.schema import RoamsyncError, TlsError
from roamsync.transport.tls import (
    CERT_FILE,
    KEY_FILE,
    Identity,
    client_context,
    create_identity,
    fingerprint_of,
    load_identity,
    peer_fingerprint,
    server_context,
    trust,
)

TIMEOUT = 5.0
T = TypeVar("T")


async def bounded(step: Awaitable[T]) -> T:
    return await asyncio.wait_for(step, TIMEOUT)


@dataclass(frozen=True)
class Devices:
    server: Identity
    alice: Identity  # enrolled: the server trusts her
    mallory: Identity  # not enrolled: a self-signed certificate nobody trusts


@pytest.fixture
def devices(tmp_path: Path) -> Devices:
    return Devices(
        create_identity(tmp_path / "server", "office-1"),
        create_identity(tmp_path / "alice", "alice-laptop"),
        create_identity(tmp_path / "mallory", "mallory"),
    )


@dataclass
class Server:
    url: str
    seen: list[str | None] = field(default_factory=list)  # client fingerprints handlers saw


def _client_of(request: web.Request) -> str | None:
    assert request.transport is not None
    return peer_fingerprint(request.transport.get_extra_info("ssl_object"))


@asynccontextmanager
async def serve(context: ssl.SSLContext) -> AsyncIterator[Server]:
    """A tiny app with an HTTP and a websocket route, each answering with the client's id."""
    server = Server("")

    async def whoami(request: web.Request) -> web.Response:
        server.seen.append(_client_of(request))
        return web.json_response({"client": server.seen[-1]})

    async def socket(request: web.Request) -> web.WebSocketResponse:
        server.seen.append(_client_of(request))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"client": server.seen[-1]})
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/ws", socket)
    runner = web.AppRunner(app, access_log=None)
    await bounded(runner.setup())
    try:
        await bounded(web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start())
        host, port = runner.addresses[0][:2]
        server.url = f"https://{host}:{port}"
        yield server
    finally:
        await bounded(runner.cleanup())


SslParam = ssl.SSLContext | aiohttp.Fingerprint


async def get_whoami(url: str, ssl_param: SslParam) -> str | None:
    """The client id the server saw, over one HTTP request.

    aiohttp releases the connection as soon as a small body has arrived, so
    the server's certificate cannot be read from an HTTP response afterwards:
    ``ws_whoami`` shows the client's view.
    """

    async def run() -> str | None:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}/whoami", ssl=ssl_param) as resp,
        ):
            body: dict[str, str | None] = await resp.json()
            return body["client"]

    return await bounded(run())


async def ws_whoami(url: str, ssl_param: SslParam) -> tuple[str | None, str | None]:
    """(client id the server saw, server id the client saw) over a websocket."""

    async def run() -> tuple[str | None, str | None]:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{url}/ws", ssl=ssl_param) as ws,
        ):
            assert ws.get_extra_info("ssl_object").version() == "TLSv1.3"
            server_id = peer_fingerprint(ws.get_extra_info("ssl_object"))
            body: dict[str, str | None] = await ws.receive_json()
            return body["client"], server_id

    return await bounded(run())


async def ws_server_saw(url: str, ssl_param: SslParam) -> str | None:
    return (await ws_whoami(url, ssl_param))[0]


ServerSaw = Callable[[str, SslParam], Awaitable[str | None]]
BOTH_ROUTES = pytest.mark.parametrize("server_saw", [get_whoami, ws_server_saw], ids=["http", "ws"])


@pytest.fixture
async def handshake_errors() -> AsyncIterator[asyncio.Queue[BaseException]]:
    """Server-side handshake failures, which asyncio reports only in debug mode."""
    loop = asyncio.get_running_loop()
    errors: asyncio.Queue[BaseException] = asyncio.Queue()

    def record(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), ssl.SSLError):
            errors.put_nowait(context["exception"])
        else:
            loop.default_exception_handler(context)

    was_debug, loop_handler = loop.get_debug(), loop.get_exception_handler()
    loop.set_debug(True)
    loop.set_exception_handler(record)
    yield errors
    loop.set_exception_handler(loop_handler)
    loop.set_debug(was_debug)


# --- mutual TLS over aiohttp -----------------------------------------------------------------


@BOTH_ROUTES
async def test_server_sees_the_enrolled_clients_fingerprint(
    devices: Devices, server_saw: ServerSaw
) -> None:
    async with serve(server_context(devices.server, [devices.alice.cert_pem])) as server:
        client_ctx = client_context(devices.alice, [devices.server.cert_pem])
        assert await server_saw(server.url, client_ctx) == devices.alice.fingerprint
    assert server.seen == [devices.alice.fingerprint]


async def test_client_sees_the_servers_fingerprint_over_tls_1_3(devices: Devices) -> None:
    async with serve(server_context(devices.server, [devices.alice.cert_pem])) as server:
        client_ctx = client_context(devices.alice, [devices.server.cert_pem])
        seen_by_server, seen_by_client = await ws_whoami(server.url, client_ctx)
    assert seen_by_server == devices.alice.fingerprint
    assert seen_by_client == devices.server.fingerprint


@BOTH_ROUTES
async def test_unknown_client_certificate_is_refused_at_the_handshake(
    devices: Devices, server_saw: ServerSaw, handshake_errors: asyncio.Queue[BaseException]
) -> None:
    # TLS 1.3: the client finishes its half of the handshake before the server
    # has checked the client certificate, so the client only learns of the
    # refusal when the server hangs up (ServerDisconnectedError, not a
    # connector error). The server's handshake fails with a verify error.
    async with serve(server_context(devices.server, [devices.alice.cert_pem])) as server:
        mallory = client_context(devices.mallory, [devices.server.cert_pem])
        with pytest.raises(aiohttp.ClientConnectionError):
            await server_saw(server.url, mallory)
        refusal = await bounded(handshake_errors.get())
    assert isinstance(refusal, ssl.SSLCertVerificationError)
    assert server.seen == []


async def test_unknown_client_certificate_over_tls_1_2_fails_in_the_connector(
    devices: Devices, handshake_errors: asyncio.Queue[BaseException]
) -> None:
    async with serve(server_context(devices.server, [devices.alice.cert_pem])) as server:
        mallory = client_context(devices.mallory, [devices.server.cert_pem])
        mallory.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises(aiohttp.ClientConnectorError):
            await get_whoami(server.url, mallory)
        refusal = await bounded(handshake_errors.get())
    assert isinstance(refusal, ssl.SSLCertVerificationError)
    assert server.seen == []


@BOTH_ROUTES
async def test_client_without_certificate_is_let_in_as_joining(
    devices: Devices, server_saw: ServerSaw
) -> None:
    async with serve(server_context(devices.server, [devices.alice.cert_pem])) as server:
        seen = await server_saw(server.url, client_context(None, [devices.server.cert_pem]))
    assert seen is None
    assert server.seen == [None]


@BOTH_ROUTES
async def test_client_that_does_not_trust_the_server_refuses_it(
    devices: Devices, server_saw: ServerSaw
) -> None:
    async with serve(server_context(devices.server, [devices.alice.cert_pem])) as server:
        suspicious = client_context(devices.alice, [devices.mallory.cert_pem])
        with pytest.raises(aiohttp.ClientConnectorCertificateError) as refused:
            await server_saw(server.url, suspicious)
    assert isinstance(refused.value.certificate_error, ssl.SSLCertVerificationError)
    assert server.seen == []


async def test_trust_at_runtime_admits_a_newly_enrolled_device(devices: Devices) -> None:
    context = server_context(devices.server, [devices.alice.cert_pem])
    newcomer = client_context(devices.mallory, [devices.server.cert_pem])
    alice = client_context(devices.alice, [devices.server.cert_pem])
    async with serve(context) as server:
        with pytest.raises(aiohttp.ClientConnectionError):
            await get_whoami(server.url, newcomer)
        trust(context, devices.mallory.cert_pem)
        assert await get_whoami(server.url, newcomer) == devices.mallory.fingerprint
        assert await ws_server_saw(server.url, newcomer) == devices.mallory.fingerprint
        assert await get_whoami(server.url, alice) == devices.alice.fingerprint


async def test_joining_client_checks_the_server_fingerprint_itself(devices: Devices) -> None:
    joining = client_context(None, [])
    async with serve(server_context(devices.server, [])) as server:
        seen_by_server, genuine = await ws_whoami(server.url, joining)
    async with serve(server_context(devices.mallory, [])) as impostor:
        _, fake = await ws_whoami(impostor.url, joining)
    assert seen_by_server is None
    assert genuine == devices.server.fingerprint
    # Without trusted certificates the handshake succeeds with anyone:
    # only the caller's fingerprint comparison tells the impostor apart.
    assert fake == devices.mallory.fingerprint


@BOTH_ROUTES
async def test_aiohttp_fingerprint_checks_the_server_before_the_request(
    devices: Devices, server_saw: ServerSaw
) -> None:
    # The alternative for joining: the invite code never reaches an impostor.
    expected = aiohttp.Fingerprint(bytes.fromhex(devices.server.fingerprint))
    async with serve(server_context(devices.server, [])) as server:
        assert await server_saw(server.url, expected) is None
    async with serve(server_context(devices.mallory, [])) as impostor:
        with pytest.raises(aiohttp.ServerFingerprintMismatch):
            await server_saw(impostor.url, expected)
    assert server.seen == [None]
    assert impostor.seen == []


async def test_an_enrolled_device_cannot_mint_certificates(
    devices: Devices, tmp_path: Path
) -> None:
    # Certificates are not CAs: one signed by an enrolled device's key is refused
    # at the handshake, before any registry check.
    minted = _mint_leaf(devices.alice, tmp_path / "minted.pem")
    context = client_context(None, [devices.server.cert_pem])
    context.load_cert_chain(minted)
    async with serve(server_context(devices.server, [devices.alice.cert_pem])) as server:
        with pytest.raises(aiohttp.ClientError):
            await get_whoami(server.url, context)
    assert server.seen == []


def _mint_leaf(issuer: Identity, path: Path) -> Path:
    issuer_key = serialization.load_pem_private_key(issuer.key_path.read_bytes(), None)
    assert isinstance(issuer_key, ec.EllipticCurvePrivateKey)
    issuer_cert = x509.load_pem_x509_certificate(issuer.cert_pem.encode())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "minted")]))
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key_pem)
    return path


# --- identities ------------------------------------------------------------------------------


def test_create_then_load_round_trips(tmp_path: Path) -> None:
    created = create_identity(tmp_path / "tls", "Kari's laptop")
    assert load_identity(tmp_path / "tls") == created
    assert created.name == "Kari's laptop"
    assert created.fingerprint == fingerprint_of(created.cert_pem)
    assert (created.key_path, created.cert_path) == (
        tmp_path / "tls" / KEY_FILE,
        tmp_path / "tls" / CERT_FILE,
    )


def test_identity_files_are_written_whole_with_a_private_key(tmp_path: Path) -> None:
    identity = create_identity(tmp_path, "office-1")
    assert stat.S_IMODE(identity.key_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [CERT_FILE, KEY_FILE]  # no temp files


def test_identities_differ(tmp_path: Path) -> None:
    a, b = create_identity(tmp_path / "a", "same"), create_identity(tmp_path / "b", "same")
    assert a.fingerprint != b.fingerprint
    assert len(a.fingerprint) == 64
    assert a.fingerprint == a.fingerprint.lower()


def test_certificate_is_its_own_trust_anchor_for_about_20_years(tmp_path: Path) -> None:
    cert = x509.load_pem_x509_certificate(create_identity(tmp_path, "x").cert_pem.encode())
    assert cert.issuer == cert.subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    lifetime = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=19 * 365) < lifetime < dt.timedelta(days=21 * 365)


@pytest.mark.parametrize("existing", [KEY_FILE, CERT_FILE])
def test_create_refuses_to_replace_an_identity(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_text("precious")
    with pytest.raises(TlsError, match="already exists"):
        create_identity(tmp_path, "again")
    assert (tmp_path / existing).read_text() == "precious"


def test_create_twice_keeps_the_first_identity(tmp_path: Path) -> None:
    first = create_identity(tmp_path, "first")
    with pytest.raises(TlsError):
        create_identity(tmp_path, "second")
    assert load_identity(tmp_path) == first


@pytest.mark.parametrize("name", ["", "x" * 65])
def test_create_refuses_a_name_a_certificate_cannot_hold(tmp_path: Path, name: str) -> None:
    with pytest.raises(TlsError, match="device name"):
        create_identity(tmp_path, name)
    assert not list(tmp_path.iterdir())


def _truncate_cert(folder: Path, _: Path) -> None:
    (folder / CERT_FILE).write_text((folder / CERT_FILE).read_text()[:200])


def _garble_key(folder: Path, _: Path) -> None:
    (folder / KEY_FILE).write_text(
        "-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n"
    )


def _delete_key(folder: Path, _: Path) -> None:
    (folder / KEY_FILE).unlink()


def _delete_cert(folder: Path, _: Path) -> None:
    (folder / CERT_FILE).unlink()


def _binary_cert(folder: Path, _: Path) -> None:
    (folder / CERT_FILE).write_bytes(b"\xff\xfe\x00garbage")


def _swap_key(folder: Path, other: Path) -> None:
    (folder / KEY_FILE).write_bytes((other / KEY_FILE).read_bytes())


@pytest.mark.parametrize(
    "damage", [_truncate_cert, _garble_key, _delete_key, _delete_cert, _binary_cert, _swap_key]
)
def test_damaged_identity_is_a_tls_error(
    tmp_path: Path, damage: Callable[[Path, Path], None]
) -> None:
    create_identity(tmp_path / "mine", "mine")
    create_identity(tmp_path / "other", "other")
    damage(tmp_path / "mine", tmp_path / "other")
    with pytest.raises(TlsError) as raised:
        load_identity(tmp_path / "mine")
    assert isinstance(raised.value, RoamsyncError)
    assert str(tmp_path / "mine") in str(raised.value)


def test_missing_identity_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(TlsError, match="run init"):
        load_identity(tmp_path / "nowhere")


def test_fingerprint_of_pem_and_der_agree(tmp_path: Path) -> None:
    identity = create_identity(tmp_path, "x")
    der = x509.load_pem_x509_certificate(identity.cert_pem.encode()).public_bytes(
        serialization.Encoding.DER
    )
    assert fingerprint_of(identity.cert_pem) == identity.fingerprint
    assert fingerprint_of(identity.cert_pem.encode()) == identity.fingerprint
    assert fingerprint_of(der) == identity.fingerprint


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        "ø",
    ],
)
def test_fingerprint_of_garbage_is_a_tls_error(garbage: str | bytes) -> None:
    with pytest.raises(TlsError) as raised:
        fingerprint_of(garbage)
    assert raised.value.__cause__ is not None


def test_trust_refuses_garbage(tmp_path: Path) -> None:
    context = server_context(create_identity(tmp_path, "x"), [])
    with pytest.raises(TlsError):
        trust(context, "not a certificate")


def test_trust_twice_is_harmless(devices: Devices) -> None:
    context = server_context(devices.server, [devices.alice.cert_pem])
    trust(context, devices.alice.cert_pem)
    assert context.cert_store_stats()["x509"] == 1


def test_contexts_trust_exactly_the_given_certificates(devices: Devices) -> None:
    server = server_context(devices.server, [devices.alice.cert_pem, devices.mallory.cert_pem])
    client = client_context(devices.alice, [devices.server.cert_pem])
    assert server.cert_store_stats()["x509"] == 2
    assert client.cert_store_stats()["x509"] == 1
    assert server.verify_mode == ssl.CERT_OPTIONAL
    assert (client.verify_mode, client.check_hostname) == (ssl.CERT_REQUIRED, False)
    assert client_context(None, []).verify_mode == ssl.CERT_NONE
    assert server.minimum_version == client.minimum_version == ssl.TLSVersion.TLSv1_2


def test_unusable_identity_files_are_a_tls_error(devices: Devices) -> None:
    devices.alice.key_path.unlink()
    with pytest.raises(TlsError):
        client_context(devices.alice, [])
