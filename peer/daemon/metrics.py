"""The daemon's ``/metrics``: a node's records, peers, traffic and conflicts, for Prometheus.

>>> body = render_metrics(node)  # the text format, served as CONTENT_TYPE
>>> b"roamsync_connected_peers 1.0" in body
True

Every scrape reads the node through a fresh registry with one collector, so
several nodes in one process (tests, the demo) never share or clash over
metrics, and gauges cannot drift from what ``roamsync status`` shows.
Traffic counters are the node's ended sessions' totals plus the running
sessions' (:meth:`~roamsync.peer.daemon.sessions.Sessions.traffic`), so they
never drop when a peer leaves.
"""

from __future__ import annotations

from collections.abc import Iterator
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

if TYPE_CHECKING:  # node.py imports this module's users
    from roamsync.peer.daemon.node import Node

CONTENT_TYPE = CONTENT_TYPE_LATEST
CONFLICT_STATUSES = ("open", "pending", "resolved")


def render_metrics(node: Node) -> bytes:
    """The node's metrics in the Prometheus text format (see :data:`CONTENT_TYPE`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node))
    return generate_latest(registry)


class NodeCollector(Collector):
    """Reads one node at a scrape."""

    def __init__(self, node: Node) -> None:
        self._node = node

    def collect(self) -> Iterator[Metric]:
        node = self._node
        yield _info(node)
        yield _records(node)
        yield _connected_peers(node)
        yield _sync_lag(node)
        yield _conflicts(node)
        yield _rejections(node)
        yield from _traffic(node.sessions.traffic())


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
    live = sum(1 for state in node.sessions.states.values() if state.session is not None)
    return GaugeMetricFamily("roamsync_connected_peers", "Peers with a running session.", live)


def _sync_lag(node: Node) -> Metric:
    gauge = GaugeMetricFamily(
        "roamsync_sync_lag",
        "Local changes a known peer has not acknowledged yet.",
        labels=["peer"],
    )
    last = node.peer.last_seq()
    for state in node.sessions.states.values():
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


def _rejections(node: Node) -> Metric:
    gauge = GaugeMetricFamily(
        "roamsync_rejections",
        "Updates this replica refused (the permission matrix, limits, dates), by sender.",
        labels=["peer"],
    )
    counts: dict[str, int] = {}
    for rejection in node.peer.rejections():
        counts[rejection.device] = counts.get(rejection.device, 0) + 1
    for device, count in sorted(counts.items()):
        gauge.add_metric([device], count)
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
    yield CounterMetricFamily(
        "roamsync_records_too_large",
        "Records not sent: larger than a frame holds (written before the size limits).",
        total.skipped,
    )
