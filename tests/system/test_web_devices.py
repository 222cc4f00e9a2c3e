"""The devices page and who may do what through the web (issue 14): an admin invites a
device (the code shown once works for a real join) and disconnects one after a
confirmation; other users get a readable 403; and pages served by a travel device, or
by an office device working offline, never let a web user, even an admin, do more
than that device's role allows: refused writes are shown and write nothing, allowed
ones work and reach main."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient, TestServer

from roamsync.peer.daemon import checkout
from roamsync.peer.daemon.node import Node
from roamsync.peer.org import registry, users
from roamsync.peer.org.enrolment import init_directory, join_company
from roamsync.peer.web.app import make_app

from conftest import Company, until

pytestmark = pytest.mark.xdist_group("daemons")
PASSWORD = "correct horse battery"
ADMIN, OFFICE, READER = "kari@acme.no", "ola@acme.no", "ro@acme.no"
WHEN = r"20\d\d-\d\d-\d\d \d\d:\d\d UTC"  # a time as the devices page shows it


@dataclass
class Browser:
    """One person's browser on one device's pages."""

    client: TestClient  # type: ignore[type-arg]

    @property
    def origin(self) -> dict[str, str]:
        return {"Origin": f"http://{self.client.host}:{self.client.port}"}

    async def csrf(self, path: str) -> str:
        page = await (await self.client.get(path)).text()
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found, page
        return found.group(1)

    async def login(self, email: str) -> None:
        form = {"email": email, "password": PASSWORD, "csrf": await self.csrf("/login")}
        response = await self.client.post(
            "/login", data=form, headers=self.origin, allow_redirects=False
        )
        assert response.status == 302, await response.text()

    async def get(self, path: str) -> tuple[int, str]:
        response = await self.client.get(path, allow_redirects=False)
        return response.status, await response.text()

    async def post(self, path: str, data: dict[str, str]) -> tuple[int, str, str]:
        """Status, where it redirects to, and the page."""
        form = {**data, "csrf": await self.csrf("/")}
        response = await self.client.post(
            path, data=form, headers=self.origin, allow_redirects=False
        )
        return response.status, response.headers.get("Location", ""), await response.text()


@asynccontextmanager
async def browse(node: Node, email: str) -> AsyncIterator[Browser]:
    """``email`` logged in on the pages ``node`` serves."""
    client = TestClient(TestServer(make_app(node), host="127.0.0.1"))
    await client.start_server()
    try:
        browser = Browser(client)
        await browser.login(email)
        yield browser
    finally:
        await client.close()


async def add_staff(hq: Node) -> None:
    """An admin, an office user and a read-only user, all accepted."""
    for email, role in ((ADMIN, "admin"), (OFFICE, "office"), (READER, "read-only")):
        await users.accept(hq.peer, await users.invite(hq.peer, email, role), PASSWORD)


def invitations(node: Node) -> int:
    return len(node.peer.store.meta_prefix("invite:"))


def status_of(node: Node, device: str) -> str:
    return next(e.status for e in registry.devices(node.peer) if e.device == device)


def row(page: str, name: str) -> list[str]:
    """The text of each cell in the devices table's row of the device ``name``."""
    found = re.search(rf'<tr>\s*<th scope="row">{name}\b.*?</tr>', page, re.DOTALL)
    assert found, page
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", found.group(0), re.DOTALL)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]


def refused(page: str, message: str) -> bool:
    """Whether ``page`` shows ``message`` as its alert."""
    return bool(re.search(r'role="alert">[^<]*' + re.escape(message), page))


async def test_an_admin_invites_a_device_that_joins_with_the_code_shown(company: Company) -> None:
    hq = await company.main()
    desk = await company.add(hq, "desk")
    await add_staff(hq)
    await until(lambda: hq.sessions.is_running(desk.peer.device))
    async with browse(hq, ADMIN) as admin:
        status, page = await admin.get("/devices")
        assert status == 200
        here = ["hq (this device)", "main", "online", "now (this device)", "", ""]
        assert row(page, "hq") == here
        cells = row(page, "desk")
        assert cells[:3] == ["desk", "office", "online"]
        assert re.fullmatch(WHEN, cells[3])
        assert cells[4:] == ["now (connected)", "Disconnect desk…"]
        assert 'href="/devices"' in page  # in the nav, for an admin

        before = invitations(hq)
        for form, problem in (
            ({"role": "travel", "hours": "abc"}, "A code is valid from 1 minute to 720 hours"),
            ({"role": "travel", "hours": "721"}, "A code is valid from 1 minute to 720 hours"),
            ({"role": "main", "hours": "24"}, "role:"),
        ):
            status, _, page = await admin.post("/devices/invite", form)
            assert status == 200
            assert refused(page, problem), page
        assert invitations(hq) == before  # nothing made

        status, _, page = await admin.post("/devices/invite", {"role": "travel", "hours": "2,5"})
        assert status == 200
        found = re.search(r"The code: <code>([^<]+)</code>", page)
        assert found, page
        code = found.group(1)
        assert f"roamsync join DIR {code} --peer 127.0.0.1:{hq.port}" in page
        _, invitation, _ = registry.parse_code(code)
        made = hq.peer.meta.invitation(invitation)
        assert made is not None
        assert made.role == "travel"
        assert 2.5 * 3600 - 60 < made.expires - time.time() <= 2.5 * 3600
        assert code not in (await admin.get("/devices"))[1]  # shown once

        folder = company.root / "lap"
        await init_directory(folder, name="lap", role="travel", company_name=company.name, port=0)
        joined = await join_company(folder, code, f"127.0.0.1:{hq.port}")
        assert joined.role == "travel"
        status, page = await admin.get("/devices")
        expected = ["lap", "travel", "not connected", "never", "not yet", "Disconnect lap…"]
        assert row(page, "lap") == expected


async def test_a_device_is_disconnected_only_after_confirming(company: Company) -> None:
    hq = await company.main()
    desk = await company.add(hq, "desk")
    await add_staff(hq)
    target = f"/devices/{desk.peer.device}/disconnect"
    async with browse(hq, ADMIN) as admin:
        page = (await admin.get("/devices"))[1]
        assert f'href="{target}"' in page
        assert f'href="/devices/{hq.peer.device}/disconnect"' not in page  # not main itself
        status, page = await admin.get(target)
        assert status == 200
        assert "<h1>Disconnect desk?</h1>" in page
        assert 'name="confirm" value="yes"' in page
        status, _, page = await admin.post(target, {})  # not from the confirmation
        assert status == 200
        assert "<h1>Disconnect desk?</h1>" in page
        assert status_of(hq, desk.peer.device) == "active"

        status, _, page = await admin.post(target, {"confirm": "yes"})
        assert status == 200
        assert "Disconnected desk" in page
        cells = row(page, "desk")
        assert cells[:3] == ["desk", "office", "disconnected"]
        assert cells[4] != "now (connected)"
        assert cells[5] == ""
        assert status_of(hq, desk.peer.device) == "revoked"
        await until(lambda: not hq.sessions.is_running(desk.peer.device))

        main = f"/devices/{hq.peer.device}/disconnect"
        status, page = await admin.get(main)
        assert refused(page, "hq is not a device that can be disconnected"), page
        status, _, page = await admin.post(main, {"confirm": "yes"})
        assert status == 200
        assert refused(page, "main cannot disconnect itself"), page
        assert status_of(hq, hq.peer.device) == "active"


@pytest.mark.parametrize("email", [OFFICE, READER])
async def test_only_an_admin_reaches_users_and_devices(company: Company, email: str) -> None:
    hq = await company.main()
    await add_staff(hq)
    async with browse(hq, email) as person:
        assert 'href="/devices"' not in (await person.get("/"))[1]  # no link in the nav
        for path in ("/users", "/devices", f"/devices/{hq.peer.device}/disconnect"):
            status, page = await person.get(path)
            assert status == 403
            assert "<h1>Not allowed</h1>" in page
            assert refused(page, "Only an administrator manage"), page
            assert '<a href="/">Back</a>' in page
        before = (invitations(hq), users.users(hq.peer))
        for path, form in (
            ("/devices/invite", {"role": "office", "hours": "24"}),
            (f"/devices/{hq.peer.device}/disconnect", {"confirm": "yes"}),
            ("/users/invite", {"email": "x@acme.no", "role": "admin"}),
            ("/users/status", {"email": ADMIN, "status": "locked"}),
        ):
            status, _, page = await person.post(path, form)
            assert status == 403
            assert "<h1>Not allowed</h1>" in page
        assert (invitations(hq), users.users(hq.peer)) == before


async def test_a_travel_device_pages_hold_even_an_admin_to_the_travel_matrix(
    company: Company,
) -> None:
    hq = await company.main()
    lap = await company.add(hq, "lap", "travel")
    await add_staff(hq)
    acme = await hq.peer.create("contacts", {"name": "Acme AS"})
    widget = await hq.peer.create("products", {"name": "Widget"})
    theirs = await hq.peer.create("orders", {"contact": acme, "total": "10.00"})
    await until(lambda: lap.peer.store.view(theirs) is not None)
    await until(lambda: users.may_log_in(lap.peer, ADMIN))
    await checkout.check_out(lap, within=10)  # travelling: the pages served offline
    contacts, products = lap.peer.count("contacts"), lap.peer.count("products")
    async with browse(lap, ADMIN) as admin:
        await all_refused(
            admin,
            ("/records/products/new", {"name": "Gadget"}, "may not create products"),
            (f"/records/products/{widget}", {"name": "Renamed"}, "may not edit products"),
            (f"/records/contacts/{acme}/delete", {}, "may not delete contacts"),
            (f"/records/orders/{theirs}", {"total": "99"}, "may only edit orders records it"),
            (f"/records/orders/{theirs}/delete", {}, "may only delete orders records it"),
            ("/users/invite", {"email": "x@acme.no", "role": "office"}, "only the main device"),
            ("/users/status", {"email": OFFICE, "status": "locked"}, "only the main device"),
            ("/devices/invite", {"role": "office", "hours": "24"}, "only the main device"),
            (f"/devices/{hq.peer.device}/disconnect", {"confirm": "yes"}, "only the main"),
        )
        peer = lap.peer
        assert (peer.count("contacts"), peer.count("products")) == (contacts, products)
        assert peer.get("products", widget)["name"] == "Widget"
        assert str(peer.get("orders", theirs)["total"]) == "10.00"
        assert {u.email: u.status for u in users.users(peer)}[OFFICE] == "active"
        assert "x@acme.no" not in {u.email for u in users.users(peer)}
        assert invitations(lap) == 0
        assert status_of(lap, hq.peer.device) == "active"
        page = (await admin.get("/devices"))[1]
        assert "Only the main device (hq) invites and disconnects devices" in page
        assert 'action="/devices/invite"' not in page  # not offered here

        status, _, _ = await admin.post(f"/records/contacts/{acme}", {"phone": "+47 22 00"})
        assert status == 302
        status, mine, _ = await admin.post("/records/orders/new", {"contact": "Acme AS"})
        assert status == 302
        order = mine.rsplit("/", 1)[1]
        assert (await admin.post(mine, {"total": "12,50"}))[0] == 302
        assert str(peer.get("orders", order)["total"]) == "12.50"
        status, _, page = await admin.post(f"{mine}/delete", {})
        assert status == 200
        assert "was deleted" in page
        assert peer.get("contacts", acme)["phone"] == "+47 22 00"
    await checkout.check_in(lap, within=10)
    await until(lambda: hq.peer.get("contacts", acme)["phone"] == "+47 22 00")
    assert hq.peer.get("products", widget)["name"] == "Widget"
    assert not hq.peer.rejections()  # nothing refused was ever sent


async def test_an_office_device_offline_allows_its_role_and_keeps_main_only_to_main(
    company: Company,
) -> None:
    hq = await company.main()
    desk = await company.add(hq, "desk")
    await add_staff(hq)
    acme = await hq.peer.create("contacts", {"name": "Acme AS"})
    widget = await hq.peer.create("products", {"name": "Widget"})
    await until(lambda: desk.peer.store.view(widget) is not None)
    await until(lambda: users.may_log_in(desk.peer, OFFICE))
    await checkout.check_out(desk, within=10)
    await until(lambda: hq.peer.get("device_status", f"status-{desk.peer.device}")["offline"])
    async with browse(hq, ADMIN) as admin:  # main shows who works offline since when
        cells = row((await admin.get("/devices"))[1], "desk")
        assert re.fullmatch(f"working offline since {WHEN}", cells[2]), cells
        assert re.fullmatch(WHEN, cells[4]), cells  # the final sync before going offline
    async with browse(desk, ADMIN) as admin:
        status, _, _ = await admin.post(f"/records/products/{widget}", {"name": "Widget 2"})
        assert status == 302  # an office device may: the travel matrix is not its rule
        assert desk.peer.get("products", widget)["name"] == "Widget 2"
        status, _, page = await admin.post(f"/records/contacts/{acme}/delete", {})
        assert status == 200
        assert "was deleted" in page
        before = (users.users(desk.peer), invitations(desk))
        await all_refused(
            admin,
            ("/users/invite", {"email": "x@acme.no", "role": "office"}, "only the main device"),
            ("/users/status", {"email": OFFICE, "status": "locked"}, "only the main device"),
            ("/devices/invite", {"role": "travel", "hours": "24"}, "only the main device"),
            (f"/devices/{hq.peer.device}/disconnect", {"confirm": "yes"}, "only the main"),
        )
        assert (users.users(desk.peer), invitations(desk)) == before
        assert status_of(desk, hq.peer.device) == "active"
        page = (await admin.get("/users"))[1]
        assert "Only the main device (hq) invites, locks and unlocks users" in page
        assert 'action="/users/invite"' not in page
    async with browse(desk, OFFICE) as person:
        for path in ("/users", "/devices"):
            status, page = await person.get(path)
            assert status == 403
            assert "<h1>Not allowed</h1>" in page
    await checkout.check_in(desk, within=10)
    await until(lambda: hq.peer.get("products", widget)["name"] == "Widget 2")


async def all_refused(admin: Browser, *cases: tuple[str, dict[str, str], str]) -> None:
    """Each (path, form, message) POSTed by ``admin`` comes back as the page with the
    refusal ``message`` (status 200: the form again, not an error page)."""
    for path, form, message in cases:
        status, _, page = await admin.post(path, form)
        assert status == 200, path
        assert refused(page, message), (path, page)
