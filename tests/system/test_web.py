"""The web pages' login and guard (issue 14, first part), over HTTP with aiohttp's test
client: no data without a session, CSRF and Origin on every POST, lockout, idle expiry,
logout, lock ends sessions, values shown as text."""

from __future__ import annotations

import re

import pytest

from roamsync.peer.org import users
from roamsync.peer.web.sessions import IDLE

from conftest import Company, until
from webclient import PASSWORD, Web, phone_conflict, post_form, web_fixture  # noqa: F401 (a fixture)

pytestmark = pytest.mark.xdist_group("daemons")


async def test_no_session_no_data(web: Web) -> None:
    for path in ("/", "/records/contacts"):
        response = await web.client.get(path, allow_redirects=False)
        assert response.status == 302
        assert response.headers["Location"] == "/login"


async def test_log_in_see_the_dashboard_log_out(web: Web) -> None:
    assert await web.login() == 302
    page = await (await web.client.get("/")).text()
    assert "GREEN" in page or "YELLOW" in page or "RED" in page
    token = await web.csrf("/")
    [stolen] = [c.value for c in web.client.session.cookie_jar if c.key == "roamsync_session"]
    out = await web.client.post("/logout", data={"csrf": token}, headers=web.origin)
    assert out.status == 200  # followed to the login page
    again = await web.client.get("/", allow_redirects=False)
    assert again.status == 302  # the browser forgot the cookie
    web.client.session.cookie_jar.clear()
    replayed = await web.client.get(
        "/", allow_redirects=False, headers={"Cookie": f"roamsync_session={stolen}"}
    )
    assert replayed.status == 302  # and a copy of it kept elsewhere opens nothing either
    assert replayed.headers["Location"] == "/login"


async def test_a_post_from_another_site_or_without_the_token_is_refused(web: Web) -> None:
    token = await web.csrf()
    form = {"email": "kari@acme.no", "password": PASSWORD, "csrf": token}
    evil = await web.client.post("/login", data=form, headers={"Origin": "https://evil.example"})
    assert evil.status == 403
    none = await web.client.post("/login", data=form)  # no Origin, no Referer
    assert none.status == 403
    wrong = await web.client.post("/login", data={**form, "csrf": "x"}, headers=web.origin)
    assert wrong.status == 403


async def test_another_host_gets_nothing(web: Web) -> None:
    response = await web.client.get("/login", headers={"Host": "evil.example"})
    assert response.status == 403


async def test_five_failures_lock_the_account(web: Web) -> None:
    for _ in range(5):
        assert await web.login(password="wrong password") == 200  # the form again
    assert await web.login() == 200  # locked: the right password no longer works
    page = await (await web.client.get("/login")).text()
    assert "Log in" in page


async def test_idle_sessions_end(web: Web) -> None:
    assert await web.login() == 302
    web.clock.now += IDLE - 5
    assert (await web.client.get("/", allow_redirects=False)).status == 200
    web.clock.now += IDLE + 1
    assert (await web.client.get("/", allow_redirects=False)).status == 302


async def test_locking_a_user_ends_their_session(web: Web) -> None:
    assert await web.login() == 302
    await users.set_status(web.hq.peer, "kari@acme.no", "locked")
    assert (await web.client.get("/", allow_redirects=False)).status == 302


async def test_values_are_shown_as_text_and_search_syntax_is_harmless(web: Web) -> None:
    await web.hq.peer.create("contacts", {"name": "<script>alert(1)</script> AS"})
    assert await web.login() == 302
    page = await (await web.client.get("/records/contacts")).text()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    for text in ('" OR 1=1 --', "name:*", "'; DROP TABLE records; --", "NEAR(a b)"):
        response = await web.client.get("/records/contacts", params={"q": text})
        assert response.status == 200


async def test_accepting_an_invitation_sets_the_password(web: Web) -> None:
    code = await users.invite(web.hq.peer, "ola@acme.no", "office")
    path = f"/accept/{code}"
    token = await web.csrf(path)
    form = {"password": "another long pass", "again": "another long pass", "csrf": token}
    done = await web.client.post(path, data=form, headers=web.origin, allow_redirects=False)
    assert done.status == 302
    assert await web.login("ola@acme.no", "another long pass") == 302


async def test_create_edit_with_a_validation_error_delete_and_undelete(web: Web) -> None:
    assert await web.login() == 302
    status, where, _ = await post_form(web, "/records/contacts/new", {"name": "Acme AS"})
    assert status == 302
    rid = where.rsplit("/", 1)[1]
    assert web.hq.peer.get("contacts", rid)["name"] == "Acme AS"
    page = await (await web.client.get(where)).text()
    assert 'value="Acme AS"' in page
    order = {"contact": "Acme AS", "total": "12,50"}  # a reference by name, money with a comma
    status, order_page, _ = await post_form(web, "/records/orders/new", order)
    assert status == 302
    oid = order_page.rsplit("/", 1)[1]
    assert str(web.hq.peer.get("orders", oid)["total"]) == "12.50"
    status, _, text = await post_form(web, order_page, {"total": "twelve", "contact": "Acme AS"})
    assert status == 200  # the form again, the error beside the field
    assert "Type an amount like 12.50 or 12,50; “twelve” is not one." in text
    assert 'value="twelve"' in text  # what the user typed stays
    assert str(web.hq.peer.get("orders", oid)["total"]) == "12.50"  # nothing written
    assert "set by roamsync" in text  # the number: read-only, with the reason
    status, _, text = await post_form(web, f"{where}/delete", {})
    assert status == 200
    assert "was deleted" in text
    assert rid not in {c["id"] for c in web.hq.peer.list("contacts")}
    status, _, _ = await post_form(web, f"{where}/restore", {})
    assert status == 302
    assert web.hq.peer.get("contacts", rid)["name"] == "Acme AS"


async def test_a_refused_write_is_shown_and_a_read_only_user_writes_nothing(web: Web) -> None:
    hq = web.hq.peer
    acme = await hq.create("contacts", {"name": "Acme AS"})
    await users.accept(hq, await users.invite(hq, "ro@acme.no", "read-only"), PASSWORD)
    assert await web.login("ro@acme.no") == 302
    page = await (await web.client.get(f"/records/contacts/{acme}")).text()
    assert "Acme AS" in page
    status, _, _ = await post_form(web, f"/records/contacts/{acme}", {"name": "Hacked"})
    assert status == 403
    status, _, _ = await post_form(web, "/records/contacts/new", {"name": "New"})
    assert status == 403
    assert hq.get("contacts", acme)["name"] == "Acme AS"


async def test_a_conflict_is_resolved_by_picking_a_value(web: Web, company: Company) -> None:
    hq = web.hq
    office, acme = await phone_conflict(company, hq)
    assert await web.login() == 302
    page = await (await web.client.get("/conflicts")).text()
    assert "from the office" in page
    assert "Keep “from the office”" in page
    [conflict] = [c for c in hq.peer.conflicts() if c.field == "phone"]
    pick = [v["value"] for v in conflict.values].index("from the office")
    form = {"record": acme, "field": "phone", "pick": str(pick)}
    status, _, _ = await post_form(web, "/conflicts/resolve", form)
    assert status == 302
    assert hq.peer.get("contacts", acme)["phone"] == "from the office"
    await until(lambda: office.peer.get("contacts", acme)["phone"] == "from the office")


async def test_an_admin_invites_and_locks_users_and_others_may_not(web: Web) -> None:
    assert await web.login() == 302
    status, _, page = await post_form(
        web, "/users/invite", {"email": "Ola@Acme.no", "name": "Ola", "role": "office"}
    )
    assert status == 200
    found = re.search(r"<code>(/accept/[^<]+)</code>", page)
    assert found, page
    assert "ola@acme.no" in page
    listed = await (await web.client.get("/users")).text()
    assert "not yet" in listed  # invited, not accepted
    status, _, _ = await post_form(web, "/users/status", {"email": "kari@acme.no", "status": "x"})
    assert status == 400
    hq = web.hq.peer
    await users.accept(hq, found.group(1).removeprefix("/accept/"), PASSWORD)
    status, _, _ = await post_form(
        web, "/users/status", {"email": "ola@acme.no", "status": "locked"}
    )
    assert status == 302
    assert [u.status for u in users.users(hq) if u.email == "ola@acme.no"] == ["locked"]
    await users.set_status(hq, "ola@acme.no", "active")
    assert await web.login("ola@acme.no") == 302  # an office user: no user administration
    assert (await web.client.get("/users")).status == 403
    status, _, _ = await post_form(web, "/users/invite", {"email": "x@acme.no", "role": "admin"})
    assert status == 403


@pytest.mark.parametrize(
    ("module", "words"),
    [
        ("contacts", "contact"),
        ("activities", "activity"),
        ("stock", "stock entry"),
        ("contact_persons", "contact person"),
        ("time_registrations", "time registration"),
    ],
)
async def test_a_module_names_one_record_in_words(web: Web, module: str, words: str) -> None:
    """The list's link and the new record's title say what one record is ("New activity",
    not "New activitie" or "New activities")."""
    assert await web.login() == 302
    listing = await (await web.client.get(f"/records/{module}")).text()
    assert f">New {words}</a>" in listing
    form = await (await web.client.get(f"/records/{module}/new")).text()
    assert f">New {words}</h1>" in form
