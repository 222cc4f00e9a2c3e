"""The daemon's Prometheus metrics, read from real nodes over loopback TLS and the local API."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from roamsync.peer.daemon.metrics import render_metrics
from roamsync.peer.daemon.node import Node
from roamsync.schema.fields import MAX_TEXT
from roamsync.transport.session import SessionStats

from conftest import Company, until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


# What main must have registered before it enrols devices.


def scrape(node: Node) -> Samples:
    """Every sample of the node's metrics, parsed back as Prometheus would."""
    text = render_metrics(node).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    return samples[(metric, frozenset(labels.items()))]


def synced(a: Node, b: Node) -> bool:
    """Both sides connected and neither has changes the other has not acknowledged."""
    for near, far in ((a, b), (b, a)):
        state = near.sessions.states.get(far.peer.device)
        if state is None or state.session is None:
            return False
        if near.peer.checkpoint(far.peer.device) != near.peer.last_seq():
            return False
    return True


async def test_metrics_show_records_peers_traffic_and_lag(company: Company) -> None:
    hq = await company.main()
    office = await company.add(hq, "office")
    await hq.peer.create("contacts", {"name": "Acme"})
    await hq.peer.create("contacts", {"name": "Globex"})
    await office.peer.create("documents", {"title": "Offer"})
    await until(lambda: office.peer.count("contacts") == 2 and hq.peer.count("documents") == 1)
    await until(lambda: synced(hq, office))

    for node, other in ((hq, office), (office, hq)):
        samples = scrape(node)
        assert value(samples, "roamsync_records", module="contacts") == 2
        assert value(samples, "roamsync_records", module="documents") == 1
        assert value(samples, "roamsync_records", module="orders") == 0
        assert value(samples, "roamsync_connected_peers") == 1
        assert value(samples, "roamsync_sync_lag", peer=other.peer.device) == 0
        for name in ("roamsync_bytes_total", "roamsync_frames_total"):
            assert value(samples, name, direction="in") > 0
            assert value(samples, name, direction="out") > 0
        assert value(samples, "roamsync_bad_frames_total") == 0
        assert all(
            value(samples, "roamsync_conflicts", status=s) == 0
            for s in ("open", "pending", "resolved")
        )
    samples = scrape(office)
    assert value(samples, "roamsync_records_synced_total", direction="in") >= 2  # the contacts
    assert value(samples, "roamsync_records_synced_total", direction="out") >= 1  # the document
    info = {"device": hq.peer.device, "name": "hq", "role": "main", "company": company.name}
    assert value(scrape(hq), "roamsync_info", **info) == 1


async def test_ended_sessions_stay_in_the_counters(company: Company) -> None:
    hq = await company.main()
    before = scrape(hq)
    assert value(before, "roamsync_bytes_total", direction="in") == 0
    hq.sessions.ended.add(SessionStats(frames_in=3, bytes_in=700, bytes_out=90, bad_frames=1))
    hq.sessions.ended.add(SessionStats(frames_in=2, records_out=4))
    after = scrape(hq)
    assert value(after, "roamsync_frames_total", direction="in") == 5
    assert value(after, "roamsync_bytes_total", direction="in") == 700
    assert value(after, "roamsync_bytes_total", direction="out") == 90
    assert value(after, "roamsync_records_synced_total", direction="out") == 4
    assert value(after, "roamsync_bad_frames_total") == 1
    assert value(after, "roamsync_connected_peers") == 0


async def test_nodes_in_one_process_keep_their_own_metrics(company: Company) -> None:
    hq = await company.main()
    office = await company.add(hq, "office")
    office.sessions.ended.add(SessionStats(bad_frames=7))
    await hq.peer.create("contacts", {"name": "only counted where it is"})
    assert value(scrape(office), "roamsync_bad_frames_total") == 7
    assert value(scrape(hq), "roamsync_bad_frames_total") == 0
    assert value(scrape(hq), "roamsync_records", module="contacts") == 1


async def test_a_concurrent_edit_is_counted_as_a_conflict(company: Company) -> None:
    hq = await company.main()
    office = await company.add(hq, "office")
    acme = await hq.peer.create("contacts", {"name": "Acme"})
    await until(lambda: office.peer.store.view(acme) is not None)
    device = office.peer.device
    await company.stop_one(office)
    await until(lambda: hq.sessions.states[device].session is None)
    assert value(scrape(hq), "roamsync_connected_peers") == 0

    await hq.peer.update("contacts", acme, {"phone": "+47 1"})
    assert value(scrape(hq), "roamsync_sync_lag", peer=device) >= 1
    offline = await Node.open(company.root / "office")  # edits while out of reach
    await offline.peer.update("contacts", acme, {"phone": "+47 2"})
    await offline.stop()
    office = await company.start("office")

    def conflicts(node: Node) -> dict[str, float]:
        samples = scrape(node)
        return {
            s: value(samples, "roamsync_conflicts", status=s)
            for s in ("open", "pending", "resolved")
        }

    await until(lambda: sum(conflicts(hq).values()) == 1 and sum(conflicts(office).values()) == 1)
    for node in (hq, office):
        assert conflicts(node) == {"open": 1, "pending": 0, "resolved": 0}
        statuses = [c.status for c in node.peer.conflicts()]
        assert conflicts(node) == {s: statuses.count(s) for s in ("open", "pending", "resolved")}
    await until(lambda: synced(hq, office))
    assert value(scrape(hq), "roamsync_sync_lag", peer=device) == 0


async def test_refused_updates_are_counted_by_sender(company: Company) -> None:
    hq = await company.main()
    assert value(scrape(hq), "roamsync_records_too_large_total") == 0
    assert not [s for s in scrape(hq) if s[0] == "roamsync_rejections"]
    office = await company.add(hq, "office")
    record = await office.peer.create("contacts", {"name": "Big AS"})
    rec = office.peer.records.doc(record)
    assert rec is not None
    rec.set_note("notes", "n" * (MAX_TEXT + 1))  # what the API refuses, a crafted update holds
    await hq.peer.apply_remote([(record, rec.doc.get_update())], office.peer.device)
    assert value(scrape(hq), "roamsync_rejections", peer=office.peer.device) == 1
