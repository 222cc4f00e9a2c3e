"""Getting in and being kept out, in a real browser: accepting an invitation, logging in
and out, the lockout after five failures, idle expiry, a session ended by a lock, and a
form posted from another site."""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Request, expect

from roamsync.peer.org import users
from roamsync.peer.web.sessions import IDLE

from .site import ADMIN, BROWSER_TESTS, PASSWORD, Site

pytestmark = BROWSER_TESTS


async def test_accept_an_invitation_set_a_password_log_in_and_out(site: Site) -> None:
    code = await users.invite(site.hq.peer, "ola@acme.no", "office")
    page = await site.page()
    await page.goto(f"/accept/{code}")
    await page.get_by_label("Password", exact=True).fill("a new long password")
    await page.get_by_label("The same password again").fill("another password")
    await page.get_by_role("button", name="Set the password").click()
    await expect(page.get_by_role("alert")).to_have_text("The passwords differ.")
    await page.get_by_label("Password", exact=True).fill("a new long password")
    await page.get_by_label("The same password again").fill("a new long password")
    await page.get_by_role("button", name="Set the password").click()
    await expect(page).to_have_url(f"{site.url}/login")
    # By keyboard only: the e-mail field has the focus, Tab to the password, Enter sends.
    await page.keyboard.type("ola@acme.no")
    await page.keyboard.press("Tab")
    await page.keyboard.type("a new long password")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{site.url}/")
    await expect(page.get_by_role("banner")).to_contain_text("ola@acme.no")
    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(f"{site.url}/login")
    await page.goto("/records/contacts")
    await expect(page).to_have_url(f"{site.url}/login")


async def test_five_failures_lock_the_account_and_the_sixth_right_password_is_refused(
    site: Site,
) -> None:
    page = await site.page()
    await page.goto("/login")
    for attempt in range(6):
        password = PASSWORD if attempt == 5 else f"wrong password {attempt}"
        await page.get_by_label("E-mail").fill(ADMIN)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("alert")).to_contain_text("Wrong e-mail or password")
        await expect(page).to_have_url(f"{site.url}/login")
    assert [u.status for u in users.users(site.hq.peer) if u.email == ADMIN] == ["locked"]
    await page.goto("/")
    await expect(page).to_have_url(f"{site.url}/login")


async def test_an_idle_session_ends_and_the_next_click_lands_on_the_login_page(
    site: Site,
) -> None:
    page = await site.page(scripts=False)  # live updates would reach /login by themselves
    await site.log_in(page)
    site.clock.now += IDLE - 5  # not yet: and this click counts as use
    await site.nav(page, "contacts").click()
    await expect(page).to_have_url(f"{site.url}/records/contacts")
    site.clock.now += IDLE + 1
    await site.nav(page, "Conflicts").click()
    await expect(page).to_have_url(f"{site.url}/login")
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()


async def test_an_admin_locking_a_user_ends_their_session_at_the_next_click(site: Site) -> None:
    ola = await site.user("ola@acme.no", "office")
    user = await site.page(scripts=False)  # live updates would reach /login by themselves
    await site.log_in(user, ola)
    admin = await site.page()
    await site.log_in(admin)
    await site.nav(admin, "Users").click()
    await admin.get_by_role("button", name=f"Lock {ola}").click()
    row = admin.get_by_role("row").filter(has_text=ola)
    await expect(row.get_by_role("cell", name="locked", exact=True)).to_be_visible()
    await site.nav(user, "contacts").click()
    await expect(user).to_have_url(f"{site.url}/login")
    await site.log_in(admin)  # the admin's own session is untouched
    await expect(admin.get_by_role("banner")).to_contain_text(ADMIN)


EVIL = """<!doctype html><title>Win a prize</title>
<form id="f" method="post" action="{target}">
  <input name="name" value="Forged AS"><input name="csrf" value="guessed">
</form>
<script>document.getElementById("f").submit()</script>"""


async def test_a_form_posted_from_another_site_is_refused_and_changes_nothing(
    site: Site,
) -> None:
    page = await site.page()
    await site.log_in(page)
    target = f"{site.url}/records/contacts/new"

    async def prize(request: web.Request) -> web.Response:
        return web.Response(text=EVIL.format(target=target), content_type="text/html")

    evil_app = web.Application()
    evil_app.router.add_get("/", prize)
    evil = TestServer(evil_app, host="127.0.0.1")  # same host, another port: same site
    await evil.start_server()
    evil_origin = f"http://127.0.0.1:{evil.port}"
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.method == "POST" else None)
    before = site.hq.peer.count("contacts")
    try:
        await page.goto(f"{evil_origin}/")
        await expect(page).to_have_url(target)
        await expect(page.locator("body")).to_contain_text("Refused")
    finally:
        await evil.close()
    [forged] = sent
    headers = await forged.all_headers()
    # SameSite=Strict does not stop it (another port is the same site): the cookie went
    # along, and the Origin and CSRF checks are what refused it.
    assert "roamsync_session=" in headers.get("cookie", "")
    assert headers["origin"] == evil_origin
    assert site.hq.peer.count("contacts") == before
    assert not site.hq.peer.search("contacts", "Forged")
    await page.goto("/records/contacts")  # still logged in: the attack ended nothing
    await expect(page.get_by_role("heading", name=re.compile("Contacts"))).to_be_visible()
