"""Search: an index in the store, in step with every local and merged write (issue 13, 3)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from roamsync.peer import Peer
from roamsync.transport.memory import sync

from conftest import OpenPeer


def names(peer: Peer, text: str, module: str = "contacts") -> list[str]:
    return sorted(r["name"] for r in peer.search(module, text))


async def test_words_prefixes_case_and_accents(open_peer: OpenPeer) -> None:
    peer = await open_peer("hq", "main")
    await peer.create("contacts", {"name": "Café Øst AS", "email": "post@cafe.no"})
    await peer.create("contacts", {"name": "Oslo Bygg AS", "notes": "Roof work in Bergen"})
    await peer.create("contacts", {"name": "Bergen Rør", "address": "Strandkaien 2"})
    assert names(peer, "cafe") == ["Café Øst AS"]  # accents ignored
    assert names(peer, "BERG") == ["Bergen Rør", "Oslo Bygg AS"]  # a prefix, any case; notes too
    assert names(peer, "bergen roof") == ["Oslo Bygg AS"]  # every word
    assert names(peer, "strandkaien") == ["Bergen Rør"]
    assert names(peer, "nowhere") == []
    assert names(peer, "  ,;  ") == []  # no words: nothing, not everything
    assert names(peer, 'bygg" OR "cafe') == []  # OR is a word to find here, not an operator
    assert names(peer, "cafe*") == ["Café Øst AS"]  # nor is *
    assert peer.search("projects", "bergen") == []  # one module only


async def test_the_index_follows_updates_deletes_and_restores(open_peer: OpenPeer) -> None:
    peer = await open_peer("hq", "main")
    acme = await peer.create("contacts", {"name": "Acme AS"})
    await peer.update("contacts", acme, {"name": "Fjordvik AS"})
    assert names(peer, "acme") == []
    assert names(peer, "fjordvik") == ["Fjordvik AS"]
    await peer.delete("contacts", acme)
    assert names(peer, "fjordvik") == []
    await peer.restore("contacts", acme)
    assert names(peer, "fjordvik") == ["Fjordvik AS"]


async def test_merged_writes_are_found(open_peer: OpenPeer) -> None:
    hq = await open_peer("hq", "main")
    laptop = await open_peer("laptop", "travel")
    ids = [await hq.create("contacts", {"name": f"Kunde {i}"}) for i in range(150)]
    await sync(hq, laptop)  # 150 arrive new: read by the worker
    assert len(laptop.search("contacts", "kunde", limit=500)) == 150
    await laptop.update("contacts", ids[7], {"name": "Renamed on the road"})
    await sync(laptop, hq)  # merged into a record main holds
    assert names(hq, "road") == ["Renamed on the road"]
    assert len(hq.search("contacts", "kunde", limit=500)) == 149


async def test_a_store_made_before_search_is_indexed_when_opened(
    open_peer: OpenPeer, tmp_path: Path
) -> None:
    peer = await open_peer("hq", "main")
    await peer.create("contacts", {"name": "Acme AS"})
    await peer.close()
    db = sqlite3.connect(tmp_path / "hq" / "roamsync.sqlite3")
    db.executescript("DROP TABLE search; DROP TABLE search_keys;")
    db.close()
    again = await open_peer("hq", "main")
    assert names(again, "acme") == ["Acme AS"]


@pytest.mark.parametrize("limit", [1, 3])
async def test_at_most_limit_results(open_peer: OpenPeer, limit: int) -> None:
    peer = await open_peer("hq", "main")
    for i in range(5):
        await peer.create("contacts", {"name": f"Same {i}"})
    assert len(peer.search("contacts", "same", limit=limit)) == limit
