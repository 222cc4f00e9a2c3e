"""Fixtures of the browser tests: one Chromium per test module, a fresh :class:`Site`
(main node, admin user, web pages on 127.0.0.1) per test.

The browser lives in the module's event loop, so every test module here marks itself
``pytest.mark.asyncio(loop_scope="module")`` (``BROWSER_TESTS``), and the function-scoped
fixtures run in that loop too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from .site import Site, launch
from conftest import Company


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await launch(playwright)
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def company(tmp_path: Path) -> AsyncIterator[Company]:
    """The shared ``company`` fixture, in the module's loop (where the browser is)."""
    c = Company(tmp_path)
    yield c
    await c.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def site(company: Company, browser: Browser) -> AsyncIterator[Site]:
    started = await Site.start(company, browser)
    yield started
    await started.close()
