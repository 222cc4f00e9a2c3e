"""The daemon's local API over HTTP: every route an operation, malformed bodies a 4xx."""

from __future__ import annotations

import io
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from roamsync.peer.api.client import ApiClient, daemon_info
from roamsync.peer.api.routes import ROUTES
from roamsync.peer.api.server import start_api
from roamsync.peer.daemon.node import Node
from roamsync.schema import InvalidArgumentError, RecordNotFoundError
from roamsync.schema.errors import error_classes

from conftest import Company

Call = Any


@pytest.fixture
async def hq(company: Company) -> AsyncIterator[Node]:
    node = await company.main()
    runner = await start_api(node)
    yield node
    await runner.cleanup()


async def send(node: Node, method: str, path: str, body: bytes | None) -> tuple[int, Any]:
    info = daemon_info(node.folder)
    assert info is not None
    headers = {"Authorization": f"Bearer {info['token']}"}
    url = f"http://127.0.0.1:{info['port']}{path}"
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.request(method, url, data=None if body is None else io.BytesIO(body)) as resp,
    ):
        return resp.status, orjson.loads(await resp.read())


MALFORMED = [
    ("POST", "/api/offline", b'{"within": "abc"}'),
    ("POST", "/api/offline", b'{"within": "nan"}'),
    ("POST", "/api/offline", b'{"within": 1e308}'),
    ("POST", "/api/offline", b'{"within": -1, "force": true}'),
    ("POST", "/api/offline", b'{"force": "yes"}'),
    ("POST", "/api/offline", b"[1, 2]"),
    ("POST", "/api/offline", b"not json"),
    ("POST", "/api/online", b'{"policy": "loudest"}'),
    ("POST", "/api/invite", b'{"role": "travel", "ttl": "nan"}'),
    ("POST", "/api/invite", b'{"role": "travel", "ttl": 1e308}'),
    ("POST", "/api/invite", b'{"role": "main"}'),
    ("POST", "/api/records/contacts", b'{"name": {"first": "Acme"}}'),
    ("POST", "/api/records/contacts", b'"Acme"'),
    ("POST", "/api/records/contacts", b"{}"),
    ("POST", "/api/records/nomodule", b'{"name": "x"}'),
    ("PATCH", "/api/records/contacts/nope", b'{"name": 1}'),
    ("POST", "/api/resolve", b'{"record": 1, "field": "name"}'),
    ("POST", "/api/resolve", b'{"record": "r", "field": "f", "pick": "first"}'),
    ("POST", "/api/disconnect", b"{}"),
    ("POST", "/api/disconnect", b'{"device": null}'),
    ("GET", "/api/conflicts?pending=maybe", None),
    ("GET", "/api/status?extra=1", None),
    ("POST", "/api/company", b'{"name": ["Acme"]}'),
    ("POST", "/api/company", b'{"name": ""}'),
    ("POST", "/api/company", b'{"email": "   "}'),
    ("GET", "/api/company?name=Pwned", None),  # a GET never writes
    ("POST", "/api/records/devices", b'{"name": "evil", "role": "main"}'),
    ("PATCH", "/api/records/company/company", b'{"name": "x"}'),
    ("DELETE", "/api/records/company/company", None),
    ("POST", "/api/records/stock", b'{"product": "p", "quantity": 1000000000000000000000}'),
    ("POST", "/api/resolve", b'{"record": "r", "field": "f", "pick": 99999999999999999999}'),
    ("GET", "/api/records/contacts/a%7Bb", None),  # braces in an id: no such record
    ("GET", "/api/find/contacts?number=1", None),  # contacts have no numbers
    ("GET", "/api/nope", None),  # no such route: aiohttp's 404, as JSON
    ("PUT", "/api/status", b"{}"),  # no such method
    ("POST", "/api/offline", b"x" * (2 << 20)),  # over the body limit
]


@pytest.mark.parametrize(("method", "path", "body"), MALFORMED)
async def test_a_malformed_request_is_a_4xx_naming_the_error(
    hq: Node, method: str, path: str, body: bytes | None
) -> None:
    status, payload = await send(hq, method, path, body)
    assert 400 <= status < 500, payload
    assert payload["error"] in error_classes()
    assert payload["message"]
    assert hq.serving  # nothing took the device offline
    assert not hq.config.offline
    assert hq.peer.meta.store.meta_prefix("invite:") == {}  # nor made an invitation


async def test_a_bad_token_or_an_undecodable_body_is_a_4xx_too(hq: Node) -> None:
    info = daemon_info(hq.folder)
    assert info is not None
    url = f"http://127.0.0.1:{info['port']}/api"
    async with aiohttp.ClientSession() as http:
        for token in ("Bearer \xe9", "\xff", "Bearer wrong", ""):
            headers = {"Authorization": token.encode("latin-1").decode("utf-8", "replace")}
            async with http.get(f"{url}/status", headers=headers) as resp:
                assert resp.status == 401
                assert (await resp.json())["error"] == "UnauthorizedError"
        headers = {"Authorization": f"Bearer {info['token']}", "Content-Encoding": "gzip"}
        async with http.post(f"{url}/offline", data=b"garbage", headers=headers) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == "InvalidArgumentError"
    assert not hq.config.offline


async def test_random_bodies_never_make_a_500(hq: Node) -> None:
    rng = random.Random(20261202)
    print("seed 20261202")
    atoms: list[Any] = [None, True, 0, -1, 2**70, 1.5, 1e308, "", "nan", "x" * 300, [], {}]
    names = ["name", "phone", "customer", "notes", "kind", "within", "x"]
    writes = [r for r in ROUTES if r.method in ("POST", "PATCH") and "offline" not in r.path]
    writes = [r for r in writes if "online" not in r.path]
    for _ in range(150):
        route = rng.choice(writes)
        path = route.url({"module": rng.choice(["contacts", "orders", "x"]), "id": "r1"})
        body = {rng.choice(names): rng.choice(atoms) for _ in range(rng.randrange(4))}
        raw = json.dumps(rng.choice([body, [body], rng.choice(atoms)])).encode()
        status, payload = await send(hq, route.method, path, raw)
        assert status < 500, (route.path, raw, payload)


async def test_the_client_raises_what_the_daemon_raised(hq: Node) -> None:
    info = daemon_info(hq.folder)
    assert info is not None
    client = ApiClient(info)
    with pytest.raises(RecordNotFoundError) as caught:
        await client.call("GET", "/records/contacts/nope")
    assert caught.value.record_id == "nope"
    with pytest.raises(InvalidArgumentError) as bad:
        await client.call("POST", "/offline", {"within": "abc"})
    assert bad.value.argument == "within"


async def test_every_route_runs_its_operation(hq: Node) -> None:
    info = daemon_info(hq.folder)
    assert info is not None
    client = ApiClient(info)
    made = await client.call("POST", "/records/contacts", {"name": "Acme"})
    await client.call("DELETE", f"/records/contacts/{made['id']}")
    back = await client.call("POST", f"/records/contacts/{made['id']}/restore")
    assert back["name"] == "Acme"
    assert [r["id"] for r in await client.call("GET", "/records/contacts")] == [made["id"]]
    assert (await client.call("GET", "/status"))["health"] in ("yellow", "red")
    assert await client.call("GET", "/rejections") == []
    assert (await client.call("POST", "/company", {"phone": "+47 22 00 00 01"}))["profile"][
        "phone"
    ] == "+47 22 00 00 01"
    order = await client.call("POST", "/records/orders", {"contact": made["id"]})
    found = await client.call("GET", "/find/orders?number=1")
    assert [r["id"] for r in found] == [order["id"]]
    searched = await client.call("GET", "/search/contacts?text=acm")
    assert [r["id"] for r in searched] == [made["id"]]
