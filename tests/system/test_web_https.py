"""The web pages over HTTPS (issue 14): served with the device's certificate or one the
user supplies, on 127.0.0.1 with a client that trusts that certificate only. Login
works; both cookies are ``Secure`` and ``__Host-``; a wrong ``Host`` or an ``http``
Origin is refused; plain HTTP to the HTTPS port gets nothing; the LAN is served only
over HTTPS; a certificate that cannot serve is a readable error before anything starts."""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from roamsync.peer.cli import main
from roamsync.peer.cli.serve import web_line, web_pages
from roamsync.peer.daemon.node import Node
from roamsync.peer.org import users
from roamsync.peer.web.app import make_app
from roamsync.peer.web.hosts import Hosts
from roamsync.peer.web.tls import WebCertificate, load_certificate

from conftest import Company
from webcerts import make_certificate

pytestmark = pytest.mark.xdist_group("daemons")
PASSWORD = "correct horse battery"
LIMIT = 10.0  # seconds for any one request


@dataclass
class Pages:
    """Pages served over HTTPS and a client that trusts their certificate."""

    port: int
    certificate: WebCertificate
    session: aiohttp.ClientSession
    check: ssl.SSLContext | aiohttp.Fingerprint

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def get(
        self, path: str, headers: dict[str, str] | None = None, allow_redirects: bool = True
    ) -> aiohttp.ClientResponse:
        return await self.session.get(
            self.url + path,
            headers=headers,
            allow_redirects=allow_redirects,
            ssl=self.check,
            timeout=aiohttp.ClientTimeout(LIMIT),
        )

    async def post(self, path: str, data: dict[str, str], origin: str | None = None) -> int:
        headers = {"Origin": origin or self.url}
        response = await self.session.post(
            self.url + path,
            data=data,
            headers=headers,
            ssl=self.check,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(LIMIT),
        )
        self.last = response
        return response.status

    async def csrf(self, path: str = "/login") -> str:
        page = await (await self.get(path)).text()
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found, page
        return found.group(1)

    async def login(self, origin: str | None = None) -> int:
        form = {"email": "kari@acme.no", "password": PASSWORD, "csrf": await self.csrf()}
        return await self.post("/login", form, origin)


@pytest.fixture
async def hq(company: Company) -> Node:
    hq = await company.main()
    await users.accept(hq.peer, await users.invite(hq.peer, "kari@acme.no", "admin"), PASSWORD)
    return hq


async def serve(
    hq: Node, certificate: WebCertificate, check: ssl.SSLContext | aiohttp.Fingerprint
) -> AsyncIterator[Pages]:
    hosts = Hosts.serving("127.0.0.1", ["office.acme.lan", *certificate.names])
    runner = web.AppRunner(make_app(hq, hosts=hosts), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=certificate.context).start()
    jar = aiohttp.CookieJar(unsafe=True)  # unsafe: keep cookies of an IP address
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        yield Pages(runner.addresses[0][1], certificate, session, check)
    await runner.cleanup()


@pytest.fixture
async def device_pages(hq: Node) -> AsyncIterator[Pages]:
    """The device's certificate, checked by its fingerprint as the user would."""
    certificate = load_certificate(hq.identity.cert_path, hq.identity.key_path)
    pinned = aiohttp.Fingerprint(bytes.fromhex(certificate.fingerprint.replace(":", "")))
    async for pages in serve(hq, certificate, pinned):
        yield pages


@pytest.fixture
async def supplied_pages(hq: Node, tmp_path: Path) -> AsyncIterator[Pages]:
    """A certificate the user supplies, verified as a browser would (chain and name)."""
    cert, key = make_certificate(tmp_path)
    trusting = ssl.create_default_context(cafile=cert)
    assert trusting.check_hostname
    async for pages in serve(hq, load_certificate(cert, key), trusting):
        yield pages


def set_cookies(response: aiohttp.ClientResponse) -> dict[str, str]:
    """Each Set-Cookie header by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.getall("Set-Cookie", [])}


def assert_secure(header: str) -> None:
    attributes = {a.strip().split("=")[0].lower() for a in header.split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path"} <= attributes, header
    assert "domain" not in attributes, header  # __Host- cookies must have none
    assert "Path=/" in header, header


async def test_the_device_certificate_serves_without_asking_for_a_client_certificate(
    device_pages: Pages, hq: Node
) -> None:
    der = ssl.PEM_cert_to_DER_cert(hq.identity.cert_pem)
    assert device_pages.certificate.fingerprint.replace(":", "").lower() == (
        hashlib.sha256(der).hexdigest()
    )
    assert device_pages.certificate.fingerprint.lower().replace(":", "") == hq.identity.fingerprint
    # Browsers have no certificate to give: the context must not ask for one (sync's does).
    assert device_pages.certificate.context.verify_mode == ssl.CERT_NONE
    assert (await device_pages.get("/login")).status == 200


async def test_login_over_https_sets_secure_host_prefixed_cookies(device_pages: Pages) -> None:
    page = await device_pages.get("/login")
    csrf = set_cookies(page)
    assert list(csrf) == ["__Host-roamsync_csrf"]
    assert_secure(csrf["__Host-roamsync_csrf"])
    assert await device_pages.login() == 302
    session = set_cookies(device_pages.last)
    assert list(session) == ["__Host-roamsync_session"]
    assert_secure(session["__Host-roamsync_session"])
    dashboard = await device_pages.get("/", allow_redirects=False)
    assert dashboard.status == 200
    assert "kari@acme.no" in await dashboard.text()
    token = await device_pages.csrf("/")
    assert await device_pages.post("/logout", {"csrf": token}) == 302
    [ended] = device_pages.last.headers.getall("Set-Cookie")
    assert ended.startswith("__Host-roamsync_session=")
    assert "Secure" in ended
    assert (await device_pages.get("/", allow_redirects=False)).status == 302


async def test_an_http_origin_or_another_host_is_refused_over_https(device_pages: Pages) -> None:
    http_origin = f"http://127.0.0.1:{device_pages.port}"  # same host and port, not HTTPS
    assert await device_pages.login(origin=http_origin) == 403
    evil = await device_pages.get("/login", headers={"Host": "evil.example"})
    assert evil.status == 403
    named = await device_pages.get("/login", headers={"Host": "office.acme.lan:7480"})
    assert named.status == 200  # --web-host
    assert await device_pages.login() == 302


async def test_plain_http_to_the_https_port_gets_nothing(device_pages: Pages) -> None:
    with pytest.raises(aiohttp.ClientError):
        await device_pages.session.get(
            f"http://127.0.0.1:{device_pages.port}/login", timeout=aiohttp.ClientTimeout(LIMIT)
        )


async def test_a_supplied_certificate_checked_as_a_browser_would(supplied_pages: Pages) -> None:
    assert supplied_pages.certificate.names == frozenset({"roamsync.test"})
    assert await supplied_pages.login() == 302
    assert_secure(set_cookies(supplied_pages.last)["__Host-roamsync_session"])
    assert (await supplied_pages.get("/", allow_redirects=False)).status == 200
    by_name = await supplied_pages.get("/login", headers={"Host": "roamsync.test"})
    assert by_name.status == 200  # a name of the certificate
    evil = await supplied_pages.get("/login", headers={"Host": "evil.example"})
    assert evil.status == 403


async def test_a_client_that_does_not_trust_the_certificate_gets_nothing(
    supplied_pages: Pages, hq: Node
) -> None:
    other = ssl.create_default_context(cadata=hq.identity.cert_pem)  # not this certificate
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await supplied_pages.session.get(
            supplied_pages.url + "/login", ssl=other, timeout=aiohttp.ClientTimeout(LIMIT)
        )


@pytest.mark.parametrize(
    ("hosts", "host", "allowed"),
    [
        (Hosts(), "127.0.0.1:7480", True),
        (Hosts(), "localhost", True),
        (Hosts(), "LOCALHOST:80", True),
        (Hosts(), "[::1]:7480", True),
        (Hosts(), "[::1]", True),
        (Hosts(), "[0:0:0:0:0:0:0:1]", True),
        (Hosts(), "192.168.1.20:7480", False),
        (Hosts(), "evil.example", False),
        (Hosts(), "localhost.", False),
        (Hosts(), "127.0.0.1.evil.example", False),
        (Hosts(), "", False),
        (Hosts(), "[::1", False),
        (Hosts(), "127.0.0.1:port", False),
        (Hosts(), "evil.example@127.0.0.1", False),
        (Hosts(), "127.0.0.1/x", False),
        (Hosts.serving("192.168.1.20"), "192.168.1.20:7480", True),
        (Hosts.serving("192.168.1.20"), "192.168.1.21:7480", False),
        (Hosts.serving("192.168.1.20"), "office.acme.lan", False),
        (Hosts.serving("192.168.1.20", ["Office.Acme.lan"]), "office.acme.lan:7480", True),
        (Hosts.serving("fe80::1"), "[fe80::1]:7480", True),
        (Hosts.serving("0.0.0.0"), "192.168.1.21:7480", True),
        (Hosts.serving("0.0.0.0"), "[fd00::5]:7480", True),
        (Hosts.serving("0.0.0.0"), "evil.example", False),
        (Hosts.serving("::", ["office.acme.lan"]), "office.acme.lan", True),
        (Hosts.serving("::"), "rebind.evil.example:7480", False),
    ],
)
def test_the_names_the_pages_answer_to(hosts: Hosts, host: str, allowed: bool) -> None:
    assert hosts.allow(host) is allowed


@pytest.mark.parametrize(
    ("listen", "https"),
    [
        ("127.0.0.1", False),
        ("localhost", False),
        ("::1", False),
        ("127.0.0.2", False),
        ("192.168.1.20", True),
        ("0.0.0.0", True),
        ("::", True),
        ("office.acme.lan", True),  # a name may resolve to anything
    ],
)
def test_the_lan_only_over_https(listen: str, https: bool) -> None:
    pages = web_pages(True, listen, 0, False, None, None, ())
    assert pages is not None
    assert pages.https is https
    assert pages.certificate is None  # the device's own, loaded when the node is open
    forced = web_pages(True, listen, 0, True, None, None, ())
    assert forced is not None
    assert forced.https


def refused(folder: Path, *options: str | Path) -> str:
    """What ``serve DIR --web OPTIONS`` says as it refuses to start (exit code 8: TlsError)."""
    args = ["serve", str(folder), "--web", "--web-port", "0", *map(str, options)]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 8, done.output
    return done.output


def test_certificates_that_cannot_serve_are_readable_errors(tmp_path: Path) -> None:
    folder = tmp_path / "hq"  # never opened: the options are checked first
    cert, key = make_certificate(tmp_path)
    _, other_key = make_certificate(tmp_path, "other.test", key_name="other.key")
    mismatch = refused(folder, "--web-cert", cert, "--web-key", other_key)
    assert f"the key {other_key} is not the key of the certificate {cert}" in mismatch
    missing = refused(folder, "--web-cert", tmp_path / "none.pem", "--web-key", key)
    assert f"no certificate at {tmp_path / 'none.pem'}" in missing
    assert "is not a PEM certificate" in refused(folder, "--web-cert", key, "--web-key", key)
    assert "is not a PEM private key" in refused(folder, "--web-cert", cert, "--web-key", cert)
    locked = tmp_path / "locked.key"
    secret = serialization.BestAvailableEncryption(b"passphrase")
    loaded = serialization.load_pem_private_key(key.read_bytes(), password=None)
    pkcs8 = serialization.PrivateFormat.PKCS8
    locked.write_bytes(loaded.private_bytes(serialization.Encoding.PEM, pkcs8, secret))
    assert "is encrypted" in refused(folder, "--web-cert", cert, "--web-key", locked)
    old_cert, old_key = make_certificate(tmp_path, "old.test", days=-1, key_name="old.key")
    assert "expired on" in refused(folder, "--web-cert", old_cert, "--web-key", old_key)
    half = CliRunner().invoke(main, ["serve", str(folder), "--web", "--web-cert", str(cert)])
    assert half.exit_code == 2
    assert "together" in half.output
    without_web = CliRunner().invoke(main, ["serve", str(folder), "--web-https"])
    assert without_web.exit_code == 2
    assert "need --web" in without_web.output
    assert not folder.exists()  # nothing was started or created


def test_the_printed_address(tmp_path: Path) -> None:
    certificate = load_certificate(*make_certificate(tmp_path))
    fingerprint = f"certificate fingerprint SHA-256 {certificate.fingerprint}"
    assert web_line("127.0.0.1", 7480, None) == "web: http://127.0.0.1:7480/"
    assert web_line("::1", 7480, None) == "web: http://[::1]:7480/"
    lan = web_line("192.168.1.20", 7480, certificate)
    assert lan == f"web: https://192.168.1.20:7480/ ({fingerprint})"
    every = web_line("::", 7480, certificate)
    assert every == f"web: https://[::]:7480/ (every address of this computer; {fingerprint})"
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", certificate.fingerprint)
