"""Screenshots of the web pages for the README (`make screenshots`): a sample company
served on 127.0.0.1, logged in with Playwright driving Debian's Chromium, each page
saved as a PNG in demo/screenshots/ at laptop width, and the order page at tablet width."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from aiohttp import web
from playwright.async_api import ViewportSize, async_playwright

from roamsync.peer import ops
from roamsync.peer.daemon.node import Node
from roamsync.peer.org import users
from roamsync.peer.org.sample import fill_sample
from roamsync.peer.web.app import make_app

OUT = Path(__file__).parent / "screenshots"
CHROMIUM = os.environ.get("ROAMSYNC_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
EMAIL, PASSWORD = "kari@acme.no", "correct horse battery"
LAPTOP = ViewportSize(width=1280, height=860)
TABLET = ViewportSize(width=768, height=1024)


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "hq"
        profile = {"address": "Storgata 1, Oslo", "phone": "+47 22 00 00 00"}
        profile |= {"email": "post@acme.no", "org_number": "912345678"}
        await ops.init(folder, "hq", "main", "Acme AS", port=0, discovery=False, profile=profile)
        node = await Node.open(folder)
        await node.start(discovery=False)  # serving on 127.0.0.1 alone: no peer yet
        await fill_sample(node.peer, seed=7)
        await users.accept(node.peer, await users.invite(node.peer, EMAIL, "admin"), PASSWORD)
        await users.invite(node.peer, "ola@acme.no", "office", name="Ola Nordmann")
        runner = web.AppRunner(make_app(node))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        order = node.peer.list("orders")[0]["id"]
        try:
            await shoot(url, order)
        finally:
            await runner.cleanup()
            await node.stop()


async def shoot(url: str, order: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = await browser.new_context(base_url=url, viewport=LAPTOP)
        page = await context.new_page()
        await page.goto("/login")
        await page.screenshot(path=OUT / "login.png")
        await page.get_by_label("E-mail").fill(EMAIL)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(f"{url}/")
        pages = {
            "dashboard": "/",
            "contacts": "/records/contacts",
            "order": f"/records/orders/{order}",
            "users": "/users",
            "devices": "/devices",
        }
        for name, path in pages.items():
            await page.goto(path)
            await page.screenshot(path=OUT / f"{name}.png", full_page=True)
        await page.set_viewport_size(TABLET)
        await page.goto(pages["order"])
        await page.screenshot(path=OUT / "order-tablet.png")
        await browser.close()
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
