"""Working with records in a real browser: a module's list and its search, create, an
edit refused beside its field, a read-only user refused, delete and undo, and a conflict
settled by keeping one of its values."""

from __future__ import annotations

import re
from decimal import Decimal

from playwright.async_api import expect

from .site import BROWSER_TESTS, Site
from conftest import until
from webclient import phone_conflict

pytestmark = BROWSER_TESTS


async def test_a_module_lists_its_records_and_search_finds_them(site: Site) -> None:
    for name in ("Acme AS", "Fjordfisk AS", "Bergen Bygg"):
        await site.hq.peer.create("contacts", {"name": name, "phone": "+47 555"})
    page = await site.page()
    await site.log_in(page)
    await site.nav(page, "contacts").click()
    await expect(page.get_by_role("heading", name="Contacts")).to_be_visible()
    rows = page.get_by_role("row")
    for name in ("Acme AS", "Fjordfisk AS", "Bergen Bygg"):
        await expect(rows.filter(has_text=name)).to_have_count(1)
    await page.get_by_role("searchbox", name="Search").fill("fjordfisk")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/records/contacts\?q=fjordfisk$"))
    await expect(rows.filter(has_text="Fjordfisk AS")).to_have_count(1)
    await expect(rows.filter(has_text="Acme AS")).to_have_count(0)
    await expect(page.get_by_role("searchbox", name="Search")).to_have_value("fjordfisk")
    await page.get_by_role("searchbox", name="Search").fill("Trondheim")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("cell", name="Nothing here for “Trondheim”.")).to_be_visible()


async def test_create_then_an_edit_refused_beside_its_field_then_corrected(site: Site) -> None:
    page = await site.page()
    await site.log_in(page)
    await site.nav(page, "products").click()
    await page.get_by_role("link", name="New product").click()
    await page.get_by_label("name").fill("Widget")
    await page.get_by_label("price").fill("12,50")
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("heading", name="Widget")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"/records/products/[^/]+$"))
    rid = page.url.rsplit("/", 1)[1]
    assert site.hq.peer.get("products", rid)["price"] == Decimal("12.50")

    price = page.get_by_label("price")
    await price.fill("abc")
    await page.get_by_role("button", name="Save").click()
    await expect(price).to_have_attribute("aria-invalid", "true")
    await expect(price).to_have_value("abc")  # what the user typed stays
    await expect(price).to_have_accessible_description(re.compile("Type an amount like 12.50"))
    error = page.locator("p.error", has_text="Type an amount")
    field, message = await price.bounding_box(), await error.bounding_box()
    assert field is not None
    assert message is not None
    assert 0 <= message["y"] - (field["y"] + field["height"]) < 40  # right under the field
    assert site.hq.peer.get("products", rid)["price"] == Decimal("12.50")  # nothing written

    await price.fill("13")
    await page.get_by_role("button", name="Save").click()
    await expect(price).to_have_value("13.00")
    await expect(page.locator("p.error")).to_have_count(0)
    assert site.hq.peer.get("products", rid)["price"] == Decimal("13.00")


async def test_delete_then_undo(site: Site) -> None:
    rid = await site.hq.peer.create("contacts", {"name": "Acme AS"})
    page = await site.page()
    await site.log_in(page)
    await site.nav(page, "contacts").click()
    await page.get_by_role("link", name="Acme AS", exact=True).click()
    await expect(page.get_by_role("heading", name="Acme AS")).to_be_visible()
    await page.get_by_role("button", name="Delete").click()
    await expect(
        page.get_by_role("status").filter(has_text="The record was deleted.")
    ).to_be_visible()
    assert rid not in {c["id"] for c in site.hq.peer.list("contacts")}
    await page.get_by_role("button", name="Undo: bring it back").click()
    await expect(page).to_have_url(f"{site.url}/records/contacts/{rid}")
    await expect(page.get_by_label("name")).to_have_value("Acme AS")
    assert site.hq.peer.get("contacts", rid)["name"] == "Acme AS"


async def test_a_read_only_user_is_told_no_and_nothing_changes(site: Site) -> None:
    rid = await site.hq.peer.create("contacts", {"name": "Acme AS"})
    reader = await site.user("ro@acme.no", "read-only")
    page = await site.page()
    await site.log_in(page, reader)
    await page.goto(f"/records/contacts/{rid}")
    await expect(page.get_by_label("name")).to_have_value("Acme AS")
    if await page.get_by_label("name").is_editable():
        await page.get_by_label("name").fill("Hacked AS")
    save = page.get_by_role("button", name="Save")
    async with page.expect_response(f"{site.url}/records/contacts/{rid}") as answer:
        if await save.count():
            await save.click()
        else:  # no Save button for them: the form sent anyway, as a crafted request would be
            form = page.locator(f'form[action="/records/contacts/{rid}"]')
            await form.evaluate("form => form.submit()")
    assert (await answer.value).status == 403
    await expect(page.locator("body")).to_contain_text(re.compile("read-only", re.I))
    assert site.hq.peer.get("contacts", rid)["name"] == "Acme AS"


async def test_a_conflict_is_settled_by_keeping_the_office_value(site: Site) -> None:
    hq = site.hq
    office, acme = await phone_conflict(site.company, hq)

    page = await site.page()
    await site.log_in(page)
    await site.nav(page, "Conflicts").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="phone", exact=True))
    choice = row.locator("form").filter(has_text="“from the office”")
    await choice.get_by_role("button", name=re.compile("^Keep “")).click()
    await expect(page).to_have_url(f"{site.url}/conflicts")
    await expect(row).to_contain_text("resolved")
    await expect(row.get_by_role("button", name=re.compile("^Keep “"))).to_have_count(0)
    assert hq.peer.get("contacts", acme)["phone"] == "from the office"
    await until(lambda: office.peer.get("contacts", acme)["phone"] == "from the office")
