"""Live pages in a real browser: a list updates by itself when another peer's command
line adds a record (real `roamsync serve` processes, set up with the CLI alone), and an
open edit form is told of a change made underneath, then keeps the user's value or
takes the other one as the user chooses."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from roamsync.peer import ops

from .site import BROWSER_TESTS, PASSWORD, Site
from conftest import until
from daemons import Daemons, cli

pytestmark = BROWSER_TESTS


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Daemons]:
    d = Daemons(tmp_path)
    yield d
    d.stop_all()


async def test_a_list_shows_a_record_added_on_another_peers_command_line(
    daemons: Daemons, browser: Browser
) -> None:
    # The daemons and the CLI block: run them beside the browser's event loop.
    hq = await asyncio.to_thread(daemons.init, "hq", "main")
    await asyncio.to_thread(daemons.serve, "hq", "--no-discovery", "--web", "--web-port", "0")
    stdout = daemons.procs["hq"].stdout
    assert stdout is not None
    url = stdout.readline().strip().removeprefix("web: ").rstrip("/")
    laptop = await asyncio.to_thread(daemons.enrol, "laptop", "office")
    await asyncio.to_thread(daemons.serve, "laptop", "--no-discovery")
    invited = await asyncio.to_thread(cli, "user", "invite", hq, "kari@acme.no", "--role", "admin")
    path = re.search(r"/accept/\S+", invited)
    assert path, invited
    context = await browser.new_context(base_url=url)
    try:
        page = await context.new_page()
        await page.goto(path.group(0))
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_label(re.compile("again", re.I)).fill(PASSWORD)
        await page.get_by_role("button").filter(has_text=re.compile("password", re.I)).click()
        await page.get_by_label("E-mail").fill("kari@acme.no")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.goto("/records/contacts")
        await page.evaluate("window.stayed = true")  # gone if the page were reloaded
        await expect(page.locator("#live")).to_have_text("")
        started = time.monotonic()
        await asyncio.to_thread(cli, "put", laptop, "contacts", "name=Made on the laptop")
        row = page.get_by_role("row").filter(has_text="Made on the laptop")
        await expect(row).to_have_count(1)
        arrived = time.monotonic() - started
        assert await page.evaluate("window.stayed") is True
        await expect(page.locator("#live")).to_contain_text("Updated")
        print(f"live update from the laptop's CLI shown after {arrived:.2f} s")
    finally:
        await context.close()


async def open_contact(site: Site, **fields: str) -> tuple[Page, str]:
    rid = await site.hq.peer.create("contacts", {"name": "Acme AS", **fields})
    page = await site.page()
    await site.log_in(page)
    await page.goto(f"/records/contacts/{rid}")
    return page, rid


async def test_an_edit_form_is_warned_of_a_change_underneath_and_keeps_mine(site: Site) -> None:
    office = await site.writer()
    page, rid = await open_contact(site, phone="1", email="a@acme.no")
    await until(lambda: office.peer.store.view(rid) is not None)
    phone = page.get_by_label("phone")
    await phone.fill("3")  # typed, not saved
    await ops.update(office, "contacts", rid, {"phone": "2", "email": "b@acme.no"})
    warning = page.locator("#w-phone")
    await expect(warning).to_contain_text("Changed on another device to “2”")
    await expect(phone).to_have_value("3")  # mine stays in the field
    await expect(page.get_by_label("email")).to_have_value("b@acme.no")  # untouched: theirs
    await warning.get_by_role("button", name="Keep mine").click()
    await expect(warning).to_be_hidden()
    await page.get_by_role("button", name="Save").click()
    await until(lambda: site.hq.peer.get("contacts", rid)["phone"] == "3")
    assert site.hq.peer.get("contacts", rid)["email"] == "b@acme.no"  # not overwritten
    await until(lambda: office.peer.get("contacts", rid)["phone"] == "3")


async def test_an_edit_form_takes_the_other_value_when_asked(site: Site) -> None:
    office = await site.writer()
    page, rid = await open_contact(site, phone="1")
    await until(lambda: office.peer.store.view(rid) is not None)
    phone = page.get_by_label("phone")
    await phone.fill("3")
    await ops.update(office, "contacts", rid, {"phone": "2"})
    await page.locator("#w-phone").get_by_role("button", name="Take theirs").click()
    await expect(phone).to_have_value("2")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#w-phone")).to_be_hidden()
    assert site.hq.peer.get("contacts", rid)["phone"] == "2"


async def test_a_save_racing_a_change_comes_back_with_the_choice(site: Site) -> None:
    """Without the live script (or between its look and the save), the server finds the
    change and sends the form back with both values; a second save keeps mine."""
    rid = await site.hq.peer.create("contacts", {"name": "Acme AS", "phone": "1"})
    page = await site.page(scripts=False)
    await site.log_in(page)
    await page.goto(f"/records/contacts/{rid}")
    await page.get_by_label("phone").fill("3")
    await site.hq.peer.update("contacts", rid, {"phone": "2"})
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#clash-banner")).to_be_visible()
    await expect(page.locator("#w-phone")).to_contain_text("“2”")
    await expect(page.get_by_label("phone")).to_have_value("3")
    assert site.hq.peer.get("contacts", rid)["phone"] == "2"
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#clash-banner")).to_have_count(0)
    assert site.hq.peer.get("contacts", rid)["phone"] == "3"
