"""What the browser tests share: Debian's Chromium launched through Playwright, and a
:class:`Site`: a main node serving the web pages on 127.0.0.1 with an injectable session
clock, its users, and fresh browser pages (each its own cookie jar).

    page = await site.page()
    await site.log_in(page, await site.user("ola@acme.no", "office"))
    office = await site.writer()  # a second node of the company, syncing with main
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Locator, Page, Playwright, expect

from roamsync.peer.daemon.node import Node
from roamsync.peer.org import users
from roamsync.peer.web.app import make_app
from roamsync.peer.web.sessions import WebSessions

from conftest import Company
from webclient import Clock

# Debian's package (`make browser` installs it); Playwright's own browser download is not used.
CHROMIUM = os.environ.get("ROAMSYNC_CHROMIUM", "/usr/bin/chromium")
# Headless, and nothing that phones home: the machine has no network but loopback.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 5_000  # every Playwright wait and assertion: a hung page fails in seconds
# Every browser test module: pytestmark = BROWSER_TESTS (one worker, the browser's loop).
BROWSER_TESTS = [
    pytest.mark.xdist_group("browser"),
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(60),
]
ADMIN = "kari@acme.no"
PASSWORD = "correct horse battery"


async def launch(playwright: Playwright) -> Browser:
    """Chromium, or a failure that says how to get it (never a skip)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make browser` installs Debian's (apt-get install "
            "chromium); ROAMSYNC_CHROMIUM=/path names another",
            pytrace=False,
        )
    expect.set_options(timeout=TIMEOUT_MS)
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


@dataclass
class Site:
    company: Company
    hq: Node
    server: TestServer
    browser: Browser
    clock: Clock
    contexts: list[BrowserContext] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @classmethod
    async def start(cls, company: Company, browser: Browser) -> Site:
        """Main, an admin user (``ADMIN``), the web pages on 127.0.0.1."""
        hq = await company.main()
        clock = Clock()
        server = TestServer(make_app(hq, WebSessions(hq.peer, clock=clock)), host="127.0.0.1")
        await server.start_server()
        site = cls(company, hq, server, browser, clock)
        await site.user(ADMIN, "admin")
        return site

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()
        await self.server.close()

    async def page(self, scripts: bool = True) -> Page:
        """A new page in a new browser context: no cookies shared with other pages.
        ``scripts=False``: the pages' own scripts off (the server-rendered pages work
        without them), e.g. so that live updates do not move the page by themselves."""
        context = await self.browser.new_context(base_url=self.url, java_script_enabled=scripts)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        return await context.new_page()

    async def user(self, email: str, role: str = "office", password: str = PASSWORD) -> str:
        """An accepted user (invited and password set through main's API); their e-mail."""
        await users.accept(self.hq.peer, await users.invite(self.hq.peer, email, role), password)
        return email

    async def log_in(self, page: Page, email: str = ADMIN, password: str = PASSWORD) -> None:
        """Log ``page`` in through the login form; on the dashboard after."""
        await page.goto("/login")
        await page.get_by_label("E-mail").fill(email)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(f"{self.url}/")
        await expect(page.get_by_role("button", name="Log out")).to_be_visible()

    @staticmethod
    def nav(page: Page, name: str) -> Locator:
        """A link of the page header (Dashboard, Conflicts, Users, a module)."""
        return page.get_by_role("banner").get_by_role("link", name=name, exact=True)

    async def writer(self, name: str = "office", role: str = "office") -> Node:
        """Another node of the company, enrolled by main and syncing with it."""
        return await self.company.add(self.hq, name, role)
