"""The web pages over HTTP, with aiohttp's test client: a main node with an admin
(``kari@acme.no``), its web app on 127.0.0.1 and a session clock the tests move."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient, TestServer

from roamsync.peer.daemon import checkout
from roamsync.peer.daemon.node import Node
from roamsync.peer.org import users
from roamsync.peer.web.app import make_app
from roamsync.peer.web.sessions import WebSessions

from conftest import Company, until

PASSWORD = "correct horse battery"


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Web:
    hq: Node
    client: TestClient  # type: ignore[type-arg]
    clock: Clock

    @property
    def origin(self) -> dict[str, str]:
        return {"Origin": f"http://{self.client.host}:{self.client.port}"}

    async def csrf(self, path: str = "/login") -> str:
        page = await (await self.client.get(path)).text()
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found, page
        return found.group(1)

    async def login(self, email: str = "kari@acme.no", password: str = PASSWORD) -> int:
        token = await self.csrf()
        form = {"email": email, "password": password, "csrf": token}
        response = await self.client.post(
            "/login", data=form, headers=self.origin, allow_redirects=False
        )
        return response.status


@pytest.fixture(name="web")
async def web_fixture(company: Company) -> AsyncIterator[Web]:
    """Import it (``from webclient import web_fixture``) to use the ``web`` fixture."""
    hq = await company.main()
    await users.accept(hq.peer, await users.invite(hq.peer, "kari@acme.no", "admin"), PASSWORD)
    clock = Clock()
    app = make_app(hq, WebSessions(hq.peer, clock=clock))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield Web(hq, client, clock)
    await client.close()


async def phone_conflict(company: Company, hq: Node) -> tuple[Node, str]:
    """An office device and a contact whose phone it and main changed at once (it was
    checked out, then checked in with the manual policy): the office node and the id."""
    office = await company.add(hq, "office")
    acme = await hq.peer.create("contacts", {"name": "Acme AS"})
    await until(lambda: office.peer.store.view(acme) is not None)
    await checkout.check_out(office, within=10)
    await office.peer.update("contacts", acme, {"phone": "from the office"})
    await hq.peer.update("contacts", acme, {"phone": "from main"})
    await checkout.check_in(office, "manual", within=10)
    await until(lambda: any(c.field == "phone" for c in hq.peer.conflicts()))
    return office, acme


async def post_form(web: Web, path: str, data: dict[str, str]) -> tuple[int, str, str]:
    token = await web.csrf("/")
    response = await web.client.post(
        path, data={**data, "csrf": token}, headers=web.origin, allow_redirects=False
    )
    return response.status, response.headers.get("Location", ""), await response.text()
