"""``/join``: an invitation code is not enough to take another device's place.

The attacker holds a valid invitation code and main's certificate (anyone can
read it from a TLS handshake). The joining device must prove that it holds
the private key of the certificate it enrols, and a certificate already in
the registry is never enrolled again. A malformed request gets a clear error
answer and leaves the invitation usable.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from roamsync.peer.daemon.node import Node
from roamsync.peer.org import registry
from roamsync.peer.org.enrolment import JOIN_PATH, init_directory, join_company, join_proof
from roamsync.transport import tls

from conftest import Company

pytestmark = pytest.mark.xdist_group("daemons")


async def post_join(hq: Node, body: Any) -> tuple[int, dict[str, Any]]:
    """What a hand-made client gets from main's ``/join``."""
    pin = aiohttp.Fingerprint(bytes.fromhex(hq.identity.fingerprint))
    url = f"https://127.0.0.1:{hq.port}{JOIN_PATH}"
    data = body if isinstance(body, bytes) else None
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, ssl=pin, data=data, json=None if data else body) as resp,
    ):
        return resp.status, await resp.json()


async def attacker(company: Company, name: str = "mallory") -> tls.Identity:
    folder = company.root / name
    await init_directory(folder, name=name, role="office", company_name="x", port=0)
    return tls.load_identity(folder / "tls")


def request(
    code: str, name: str, identity: tls.Identity, cert: str | None = None
) -> dict[str, Any]:
    main_fingerprint, invitation, secret = registry.parse_code(code)
    cert = cert or identity.cert_pem
    proof = join_proof(identity, main_fingerprint, invitation, tls.fingerprint_of(cert))
    return {"invitation": invitation, "secret": secret, "name": name, "cert": cert, "proof": proof}


async def assert_invitation_still_works(company: Company, hq: Node, code: str) -> None:
    folder = company.root / "honest"
    await init_directory(folder, name="honest", role="office", company_name="x", port=0)
    await join_company(folder, code, f"127.0.0.1:{hq.port}")
    assert "honest" in {e.name for e in registry.devices(hq.peer)}


async def test_mains_own_certificate_cannot_be_enrolled_again(company: Company) -> None:
    hq = await company.main()
    before = registry.devices(hq.peer)
    mallory = await attacker(company)
    code = registry.invite(hq.peer, hq.identity.fingerprint, "office")
    # main's certificate, with a proof signed by the attacker's own key
    status, reply = await post_join(hq, request(code, "hq", mallory, cert=hq.identity.cert_pem))
    assert (status, reply["error"]) == (403, "InvitationError"), reply
    assert "does not prove" in reply["message"]
    assert registry.devices(hq.peer) == before
    await assert_invitation_still_works(company, hq, code)


async def test_an_enrolled_certificate_is_refused_even_with_its_key(company: Company) -> None:
    """A device that is (or was) enrolled cannot enrol its certificate a second time:
    re-enrolment would rewrite its role or undo a revocation."""
    hq = await company.main()
    office = await company.add(hq, "office")
    office_identity = office.identity
    await company.stop_one(office)
    await registry.revoke(hq.peer, office_identity.fingerprint)
    code = registry.invite(hq.peer, hq.identity.fingerprint, "travel")
    status, reply = await post_join(hq, request(code, "office-again", office_identity))
    assert (status, reply["error"]) == (409, "EnrolledError"), reply
    entry = next(
        e for e in registry.devices(hq.peer) if e.fingerprint == office_identity.fingerprint
    )
    assert entry.status == "revoked"
    assert entry.role == "office"
    await assert_invitation_still_works(company, hq, code)


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda body: b"{not json", id="not-json"),
        pytest.param(lambda body: [body], id="a-list"),
        pytest.param(lambda body: {**body, "name": 42}, id="name-not-text"),
        pytest.param(lambda body: {**body, "name": ""}, id="name-empty"),
        pytest.param(lambda body: {**body, "name": "a\x1b[2Jb"}, id="name-control-chars"),
        pytest.param(lambda body: {**body, "name": "x" * 200}, id="name-too-long"),
        pytest.param(lambda body: {k: v for k, v in body.items() if k != "proof"}, id="no-proof"),
        pytest.param(lambda body: {**body, "proof": "@@not base64"}, id="proof-not-base64"),
        pytest.param(lambda body: {**body, "proof": None}, id="proof-null"),
        pytest.param(lambda body: {**body, "cert": "garbage"}, id="cert-garbage"),
        pytest.param(lambda body: {**body, "cert": {"a": 1}}, id="cert-object"),
        pytest.param(lambda body: {**body, "secret": 1e308}, id="secret-number"),
        pytest.param(lambda body: {**body, "invitation": None}, id="invitation-null"),
    ],
)
async def test_malformed_requests_get_an_answer_and_do_not_burn_the_invitation(
    company: Company, spoil: Any
) -> None:
    hq = await company.main()
    mallory = await attacker(company)
    code = registry.invite(hq.peer, hq.identity.fingerprint, "office")
    status, reply = await post_join(hq, spoil(request(code, "mallory", mallory)))
    assert status == 400, reply
    assert reply["error"] in {"RequestError", "UsageError"}, reply
    assert reply["message"]
    _, invitation, _ = registry.parse_code(code)
    found = hq.peer.meta.invitation(invitation)
    assert found is not None
    assert not found.used
    assert found.attempts == 0
    await assert_invitation_still_works(company, hq, code)


async def test_a_wrong_secret_still_counts(company: Company) -> None:
    hq = await company.main()
    mallory = await attacker(company)
    code = registry.invite(hq.peer, hq.identity.fingerprint, "office")
    body = {**request(code, "mallory", mallory), "secret": "guess"}
    status, reply = await post_join(hq, body)
    assert status == 403, reply
    assert "wrong code" in reply["message"]
    _, invitation, _ = registry.parse_code(code)
    found = hq.peer.meta.invitation(invitation)
    assert found is not None
    assert found.attempts == 1
    assert not found.used
