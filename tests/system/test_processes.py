"""Real `roamsync serve` processes on loopback: discovery, CLI edits, SIGKILL, strangers.

Every process is started with a bounded wait for its "serving" line and
stopped with SIGTERM (which must exit cleanly) or SIGKILL; every wait for
convergence is bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import signal
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from roamsync.peer.daemon.node import Node
from roamsync.peer.org.config import load_config, save_config

from daemons import Daemons, cli, count, wait_for
from webcerts import make_certificate

pytestmark = pytest.mark.xdist_group("zeroconf")  # daemons announce on 127.0.0.1


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Daemons]:
    d = Daemons(tmp_path)
    yield d
    d.stop_all()


def test_three_daemons_discover_each_other_and_converge(daemons: Daemons) -> None:
    daemons.init("hq", "main")
    daemons.serve("hq")
    a = daemons.enrol("office-a", discovery_only=True)
    b = daemons.enrol("laptop-b", "travel", discovery_only=True)
    daemons.serve("office-a")
    daemons.serve("laptop-b")
    acme = cli("put", a, "contacts", "name=Acme AS", "phone=+47 1")
    wait_for(lambda: count(b) == 1, what="laptop-b to get office-a's contact")
    cli("put", b, "contacts", "--id", acme, "email=sales@acme.no")
    order = cli("put", b, "orders", f"contact={acme}", "total=99.50")
    wait_for(
        lambda: (
            "sales@acme.no" in cli("get", a, "contacts", acme)
            and "number: 1" in cli("get", a, "orders", order, check=False)  # not there yet?
        ),
        what="edits and the renumbered order to reach office-a",
    )
    devices = cli("devices", daemons.root / "hq", "--json")
    assert devices.count('"online":true') == 3
    for name in list(daemons.procs):
        assert daemons.stop(name) == 0  # SIGTERM: clean shutdown


def _fill(folder: Path, n: int) -> None:
    async def fill() -> None:
        node = await Node.open(folder)
        try:
            for i in range(n):
                await node.peer.create("contacts", {"name": f"Company {i}", "phone": str(i)})
        finally:
            await node.stop()

    asyncio.run(fill())


def test_sigkill_during_a_bulk_sync_loses_nothing(daemons: Daemons) -> None:
    n = 6000
    hq = daemons.init("hq", "main")
    _fill(hq, n)
    daemons.serve("hq")
    office = daemons.enrol("office", discovery_only=False)
    daemons.serve("office", "--no-discovery")
    wait_for(lambda: count(office) > 0, what="the bulk sync to start")
    got_before_kill = count(office)
    daemons.stop("office", signal.SIGKILL)
    assert got_before_kill < n, "the sync finished before the kill; make n larger"
    daemons.serve("office", "--no-discovery")
    wait_for(lambda: count(office) == n, limit=120, what="the sync to finish after the restart")
    extra = cli("put", office, "contacts", "name=after the crash")
    wait_for(lambda: count(hq) == n + 1, what="hq to get the office's new record")
    assert "after the crash" in cli("get", hq, "contacts", extra)


def test_an_unenrolled_device_is_refused(daemons: Daemons) -> None:
    daemons.init("hq", "main")
    port = daemons.serve("hq")
    cli("put", daemons.root / "hq", "contacts", "name=secret")
    stranger = daemons.init("stranger", "office")
    hq_config = load_config(daemons.root / "hq")
    config = load_config(stranger)
    config.company = hq_config.company  # knows the company id and main's certificate
    config.main_device, config.main_fingerprint = hq_config.main_device, hq_config.fingerprint
    config.trusted = [(daemons.root / "hq" / "tls" / "cert.pem").read_text()]
    config.peers = [f"127.0.0.1:{port}"]
    save_config(stranger, config)
    daemons.serve("stranger", "--no-discovery")
    # Its self-signed certificate is not in the registry: the TLS handshake fails.
    log = stranger / "roamsync.log"
    wait_for(
        lambda: log.exists() and log.read_text().count("cannot connect") >= 2,
        what="the stranger to be refused twice",
    )
    assert count(stranger) == 0
    assert '"peers":[]' in cli("status", daemons.root / "hq", "--json")


def test_the_travel_scenario_through_the_cli(daemons: Daemons) -> None:
    hq = daemons.init("hq", "main")
    daemons.serve("hq", "--no-discovery")
    laptop = daemons.enrol("laptop", "travel")
    daemons.serve("laptop", "--no-discovery")
    acme = cli("put", hq, "contacts", "name=Acme AS", "phone=1")
    wait_for(lambda: count(laptop) == 1, what="the laptop to get the contact")
    # Check out: a final sync, then the flag everyone sees.
    assert "working offline since" in cli("offline", laptop)
    devices = json.loads(cli("devices", hq, "--json"))
    [me] = [d for d in devices if d["name"] == "laptop"]
    assert me["offline_since"]
    assert not me["online"]
    assert "YELLOW: working offline" in cli("status", laptop)
    # Both sides work; the same field conflicts.
    cli("put", hq, "contacts", "--id", acme, "phone=main")
    cli("put", laptop, "contacts", "--id", acme, "phone=laptop", "email=kari@acme.no")
    order = cli("put", laptop, "orders", f"contact={acme}", "total=10.00")
    assert count(hq, "orders") == 0  # nothing synced while offline
    # Check in with manual decisions.
    report = json.loads(cli("online", laptop, "--policy", "manual", "--json"))
    assert report["uploaded"] >= 2
    assert report["downloaded"] >= 1
    [pending] = json.loads(cli("conflicts", laptop, "--pending", "--json"))
    assert pending["field"] == "phone"
    index = [v["value"] for v in pending["values"]].index("laptop")
    assert cli("resolve", laptop, acme, "phone", "--pick", str(index)) == "phone = laptop"
    wait_for(
        lambda: (
            '"phone":"laptop"' in cli("get", hq, "contacts", acme, "--json")
            and '"number":"1"' in cli("get", hq, "orders", order, "--json")
        ),
        what="the resolution and the renumbered order on main",
    )
    [settled] = json.loads(cli("conflicts", hq, "--json"))
    assert (settled["status"], settled["policy"]) == ("resolved", "manual")
    assert all(d["offline_since"] is None for d in json.loads(cli("devices", hq, "--json")))
    log = json.loads(cli("log", laptop, "--json"))
    assert log
    assert all(entry["status"] == "ok" for entry in log)
    assert json.loads(cli("history", laptop, "--json"))[0]["up"] >= 1
    wait_for(lambda: "GREEN" in cli("status", laptop), what="a green status")
    trace = (laptop / "roamsync.log").read_text()
    assert "Changes(upto=" in trace  # the trace log shows every frame
    assert "session with" in trace


def test_serve_web_prints_the_address_of_the_pages(daemons: Daemons) -> None:
    daemons.init("hq", "main")
    daemons.serve("hq", "--no-discovery", "--web", "--web-port", "0")
    stdout = daemons.procs["hq"].stdout
    assert stdout is not None
    line = stdout.readline().strip()
    assert line.startswith("web: http://127.0.0.1:"), line
    with urllib.request.urlopen(line.removeprefix("web: ") + "login", timeout=10) as page:
        assert "Log in" in page.read().decode()


WEB_HTTPS = re.compile(r"web: (https://[0-9.]+:\d+/) \(certificate fingerprint SHA-256 (\S+)\)")


def _https_pages(daemons: Daemons, cert: Path, *options: str | Path) -> tuple[str, ssl.SSLContext]:
    """Serve hq's pages over HTTPS with ``options``; their address, and a client context
    that trusts ``cert`` and checks that the printed fingerprint is that certificate's."""
    daemons.serve("hq", "--no-discovery", "--web", "--web-port", "0", *map(str, options))
    stdout = daemons.procs["hq"].stdout
    assert stdout is not None
    line = stdout.readline().strip()
    printed = WEB_HTTPS.fullmatch(line)
    assert printed, line
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    assert printed[2] == hashlib.sha256(der).digest().hex(":").upper()
    return printed[1], ssl.create_default_context(cadata=cert.read_text())


def test_serve_web_over_https_with_the_device_or_a_supplied_certificate(
    daemons: Daemons, tmp_path: Path
) -> None:
    hq = daemons.init("hq", "main")
    device = hq / "tls" / "cert.pem"
    url, trusting = _https_pages(daemons, device, "--web-https")
    assert url.startswith("https://127.0.0.1:")
    trusting.check_hostname = False  # the device's certificate names no host
    with urllib.request.urlopen(url + "login", timeout=10, context=trusting) as page:
        assert "Log in" in page.read().decode()
    assert daemons.stop("hq") == 0
    # Another address, another certificate: checked as a browser would, name included.
    cert, key = make_certificate(tmp_path)
    url, trusting = _https_pages(
        daemons, cert, "--web-listen", "127.0.0.2", "--web-cert", cert, "--web-key", key
    )
    assert url.startswith("https://127.0.0.2:")
    with urllib.request.urlopen(url + "login", timeout=10, context=trusting) as page:
        assert "Log in" in page.read().decode()
    plain = url.replace("https://", "http://") + "login"
    with pytest.raises((urllib.error.URLError, ConnectionError)) as refused:
        urllib.request.urlopen(plain, timeout=10)
    assert not isinstance(refused.value, urllib.error.HTTPError)  # no answer at all
    assert daemons.stop("hq") == 0
