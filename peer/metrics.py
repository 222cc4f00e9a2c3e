"""The daemon's ``/metrics``: a node's records, peers, traffic and conflicts, for Prometheus.

>>> body = render_metrics(node)  # the text format, served as CONTENT_TYPE
>>> b"roamsync_connected_peers 1.0" in body
True

Each node gets its own :class:`~prometheus_client.CollectorRegistry` with one
collector that reads the node when scraped, so several nodes in one process
(tests, the demo) never share or clash over metrics. Gauges are read from the
replica and the sessions at scrape time rather than kept up to date by hand,
so they cannot drift from what ``roamsync status`` shows.

Traffic counters must not drop when a peer leaves and its session (with its
:class:`SessionStats`) goes away, so the node hands each ended session's stats
to :func:`record_session_end`; a counter is that running total plus the stats
of the sessions running now.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from roamsync.schema import MODULES
from roamsync.transport.session import SessionStats

if TYPE_CHECKING:  # node.py imports this module at run time
    from roamsync.peer.node import Node

CONTENT_TYPE = CONTENT_TYPE_LATEST
CONFLICT_STATUSES = ("open", "pending", "resolved")


@dataclass
class _NodeMetrics:
    registry: CollectorRegistry
    ended: SessionStats


# Keyed by id(node), dropped by a finalizer when the node goes: Node is a dataclass
# with eq=True and so unhashable, which rules out a WeakKeyDictionary.
_BY_NODE: dict[int, _NodeMetrics] = {}


def _metrics_of(node: Node) -> _NodeMetrics:
    """The node's registry and ended-session totals, made on first use."""
    key = id(node)
    found = _BY_NODE.get(key)
    if found is None:
        registry = CollectorRegistry()
        registry.register(NodeCollector(node))
        found = _BY_NODE[key] = _NodeMetrics(registry, SessionStats())
        weakref.finalize(node, _BY_NODE.pop, key, None)
    return found


def record_session_end(node: Node, stats: SessionStats) -> None:
    """Keep an ended session's traffic in the node's counters.

    Call it in the same step that clears ``PeerState.session``, so that no
    scrape sees the session both live and ended.
    """
    _metrics_of(node).ended.add(stats)


def traffic(node: Node) -> SessionStats:
    """All traffic of the node so far: ended sessions plus the running ones."""
    total = dataclasses.replace(_metrics_of(node).ended)
    for state in node.states.values():
        if state.session is not None:
            total.add(state.session.stats)
    return total


def render_metrics(node: Node) -> bytes:
    """The node's metrics in the Prometheus text format (see :data:`CONTENT_TYPE`)."""
    return generate_latest(_metrics_of(node).registry)


class NodeCollector(Collector):
    """Reads one node at each scrape; holds it weakly so the registry does not keep it alive."""

    def __init__(self, node: Node) -> None:
        self._node = weakref.ref(node)

    def collect(self) -> Iterator[Metric]:
        node = self._node()
        if node is None:
            return
        yield _info(node)
        yield _records(node)
        yield _connected_peers(node)
        yield _sync_lag(node)
        yield _conflicts(node)
        yield from _traffic(traffic(node))


def _info(node: Node) -> Metric:
    info = InfoMetricFamily("roamsync", "This device and its company.")
    labels = {
        "device": node.peer.device,
        "name": node.config.name,
        "role": node.peer.role,
        "company": node.config.company_name,
    }
    info.add_metric([], labels)
    return info


def _records(node: Node) -> Metric:
    gauge = GaugeMetricFamily(
        "roamsync_records", "Live (not deleted) records per module.", labels=["module"]
    )
    for module in MODULES:
        gauge.add_metric([module], node.peer.count(module))
    return gauge


def _connected_peers(node: Node) -> Metric:
    live = sum(1 for state in node.states.values() if state.session is not None)
    return GaugeMetricFamily("roamsync_connected_peers", "Peers with a running session.", live)


def _sync_lag(node: Node) -> Metric:
    gauge = GaugeMetricFamily(
        "roamsync_sync_lag",
        "Local changes a known peer has not acknowledged yet.",
        labels=["peer"],
    )
    last = node.peer.last_seq()
    for state in node.states.values():
        gauge.add_metric([state.device], last - node.peer.checkpoint(state.device))
    return gauge


def _conflicts(node: Node) -> Metric:
    counts = dict.fromkeys(CONFLICT_STATUSES, 0)
    for conflict in node.peer.conflicts():
        counts[conflict.status] = counts.get(conflict.status, 0) + 1
    gauge = GaugeMetricFamily(
        "roamsync_conflicts",
        "Conflict log entries by status (resolved ones stay listed for seven days).",
        labels=["status"],
    )
    for status, count in counts.items():
        gauge.add_metric([status], count)
    return gauge


def _traffic(total: SessionStats) -> Iterator[Metric]:
    directed = [
        ("roamsync_bytes", "Bytes of sync frames.", total.bytes_in, total.bytes_out),
        ("roamsync_frames", "Sync frames.", total.frames_in, total.frames_out),
        (
            "roamsync_records_synced",
            "Record states carried by sync frames.",
            total.records_in,
            total.records_out,
        ),
    ]
    for name, help_text, received, sent in directed:
        counter = CounterMetricFamily(name, help_text, labels=["direction"])
        counter.add_metric(["in"], received)
        counter.add_metric(["out"], sent)
        yield counter
    yield CounterMetricFamily(
        "roamsync_bad_frames", "Frames that did not decode and were dropped.", total.bad_frames
    )
