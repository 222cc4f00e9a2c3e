"""The local API from another browser tab or another local account.

A page on another site can make the browser send requests to 127.0.0.1 (and,
with DNS rebinding, read the answers under its own host name); a local user
can connect to any port. Neither may read the daemon: every request must name
the daemon's own host (``Host``), and ``/metrics`` needs the token unless the
user opts out with ``serve --open-metrics``.
"""

from __future__ import annotations

import aiohttp
import pytest

from roamsync.peer.api.client import daemon_info
from roamsync.peer.api.server import start_api
from roamsync.peer.daemon.metrics import CONTENT_TYPE
from roamsync.peer.daemon.node import Node

from conftest import Company


def token_of(node: Node) -> str:
    info = daemon_info(node.folder)
    assert info is not None
    return str(info["token"])


async def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}", headers=headers) as resp,
    ):
        return resp.status, await resp.text()


@pytest.mark.parametrize(
    "host",
    ["evil.example:{port}", "evil.example", "127.0.0.1.nip.io:{port}", "", "127.0.0.2:{port}"],
)
async def test_a_rebinding_page_cannot_read_the_api(company: Company, host: str) -> None:
    hq = await company.main()
    runner = await start_api(hq)
    token = token_of(hq)
    port = runner.addresses[0][1]
    try:
        auth = {"Authorization": f"Bearer {token}", "Host": host.format(port=port)}
        for path in ("/api/status", "/metrics", "/api/list/contacts"):
            status, text = await get(port, path, auth)
            assert status == 403, (path, status, text)
            assert "Host" in text
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}"])
async def test_the_daemons_own_names_are_served(company: Company, host: str) -> None:
    hq = await company.main()
    runner = await start_api(hq)
    token = token_of(hq)
    port = runner.addresses[0][1]
    try:
        headers = {"Authorization": f"Bearer {token}", "Host": host.format(port=port)}
        status, _ = await get(port, "/api/status", headers)
        assert status == 200
    finally:
        await runner.cleanup()


async def test_metrics_need_the_token_unless_opened(company: Company) -> None:
    hq = await company.main()
    await hq.peer.create("contacts", {"name": "Acme"})
    runner = await start_api(hq)
    token = token_of(hq)
    port = runner.addresses[0][1]
    try:
        assert (await get(port, "/metrics", {}))[0] == 401
        status, text = await get(port, "/metrics", {"Authorization": f"Bearer {token}"})
        assert status == 200
        assert 'roamsync_records{module="contacts"} 1.0' in text
    finally:
        await runner.cleanup()
    runner = await start_api(hq, open_metrics=True)
    port = runner.addresses[0][1]
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics") as resp,
        ):
            assert resp.status == 200
            assert resp.headers["Content-Type"] == CONTENT_TYPE
        assert (await get(port, "/api/status", {}))[0] == 401  # only /metrics is opened
    finally:
        await runner.cleanup()
