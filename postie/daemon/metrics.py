"""The daemon's numbers for Prometheus: a :class:`Metrics` snapshot and its text
exposition (format 0.0.4), served at ``GET /metrics`` (``postie.daemon.http``).

Families (per-server ones carry a ``server`` label):

==================================  =======  ============================
metric                              type     from ``Metrics``
==================================  =======  ============================
``postie_jobs_queued``              gauge    ``jobs_queued``
``postie_jobs_running``             gauge    ``jobs_running``
``postie_jobs_done_total``          counter  ``jobs_done_total``
``postie_jobs_failed_total``        counter  ``jobs_failed_total``
``postie_posted_bytes_total``       counter  ``bytes_posted_total``
``postie_articles_posted_total``    counter  ``articles_posted_total``
``postie_verify_pending_transfers`` gauge    ``verify_pending_transfers``
``postie_verify_failed_transfers``  gauge    ``verify_failed_transfers``
``postie_connections_open``         gauge    ``connections_open[server]``
``postie_connections_max``          gauge    ``connections_max[server]``
``postie_buffer_in_use_bytes``      gauge    ``buffer_bytes_in_use``
``postie_buffer_capacity_bytes``    gauge    ``buffer_bytes_capacity``
``postie_worker_slots_in_use``      gauge    ``worker_slots_in_use``
``postie_worker_slots_max``         gauge    ``worker_slots_total``
``postie_par2_jobs_running``        gauge    ``par2_jobs_running``
``postie_uptime_seconds``           gauge    ``uptime_seconds``
``postie_build_info``               gauge    1, labelled with ``version``
``postie_instance_info``            gauge    1, labelled with ``instance``
``postie_leases_held``              gauge    ``leases[(instance, kind)]``
==================================  =======  ============================

``postie_leases_held`` counts every lease held now on the store, by every process
(every daemon instance's work, and a ``postie post``'s), labelled with the holder's
``instance`` (its owner when it has no worker row) and the ``kind``: ``job``,
``transfer``, ``check`` (files being STATed), ``failure`` (missing articles).
``postie_leases_held{kind="job"}`` is the jobs each instance runs now.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import msgspec
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric

from postie import __version__

__all__ = ["METRICS_CONTENT_TYPE", "Metrics", "render_metrics"]

METRICS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


class Metrics(msgspec.Struct, frozen=True):
    """A snapshot of the daemon's numbers, filled in by the daemon for each scrape.

    Counters (``*_total``) only ever grow while the daemon runs; the rest are gauges.
    ``connections_open`` and ``connections_max`` are keyed by server label.
    """

    jobs_queued: int = 0
    jobs_running: int = 0
    jobs_done_total: int = 0
    jobs_failed_total: int = 0
    bytes_posted_total: int = 0
    articles_posted_total: int = 0
    verify_pending_transfers: int = 0
    verify_failed_transfers: int = 0
    connections_open: Mapping[str, int] = msgspec.field(default_factory=dict)
    connections_max: Mapping[str, int] = msgspec.field(default_factory=dict)
    buffer_bytes_in_use: int = 0
    buffer_bytes_capacity: int = 0
    worker_slots_in_use: int = 0
    worker_slots_total: int = 0
    par2_jobs_running: int = 0
    uptime_seconds: float = 0.0
    instance: str = ""  # this daemon's instance name
    leases: Mapping[tuple[str, str], int] = msgspec.field(default_factory=dict)  # (instance, kind)


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=float(value))


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_text, value=float(value))


def _per_server(name: str, help_text: str, values: Mapping[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=["server"])
    for server in sorted(values):
        family.add_metric([server], float(values[server]))
    return family


def _families(m: Metrics) -> Iterator[Metric]:
    yield _gauge("postie_jobs_queued", "Jobs waiting in the queue.", m.jobs_queued)
    yield _gauge("postie_jobs_running", "Jobs being posted now.", m.jobs_running)
    yield _counter("postie_jobs_done_total", "Jobs finished successfully.", m.jobs_done_total)
    yield _counter("postie_jobs_failed_total", "Jobs that failed for good.", m.jobs_failed_total)
    yield _counter("postie_posted_bytes_total", "Article bytes posted.", m.bytes_posted_total)
    yield _counter("postie_articles_posted_total", "Articles posted.", m.articles_posted_total)
    yield _gauge(
        "postie_verify_pending_transfers",
        "Transfers whose articles are still to be verified.",
        m.verify_pending_transfers,
    )
    yield _gauge(
        "postie_verify_failed_transfers",
        "Transfers whose verification found missing articles.",
        m.verify_failed_transfers,
    )
    yield _per_server(
        "postie_connections_open", "NNTP connections open, per server.", m.connections_open
    )
    yield _per_server(
        "postie_connections_max", "NNTP connections allowed, per server.", m.connections_max
    )
    yield _gauge(
        "postie_buffer_in_use_bytes", "Bytes of article buffers in use.", m.buffer_bytes_in_use
    )
    yield _gauge(
        "postie_buffer_capacity_bytes",
        "Bytes of article buffers available in all.",
        m.buffer_bytes_capacity,
    )
    yield _gauge("postie_worker_slots_in_use", "Worker slots busy.", m.worker_slots_in_use)
    yield _gauge("postie_worker_slots_max", "Worker slots in all.", m.worker_slots_total)
    yield _gauge("postie_par2_jobs_running", "PAR2 jobs running now.", m.par2_jobs_running)
    yield _gauge("postie_uptime_seconds", "Seconds since the daemon started.", m.uptime_seconds)
    info = GaugeMetricFamily("postie_build_info", "The running postie version.", labels=["version"])
    info.add_metric([__version__], 1.0)
    yield info
    me = GaugeMetricFamily(
        "postie_instance_info", "This daemon's instance name.", labels=["instance"]
    )
    me.add_metric([m.instance], 1.0)
    yield me
    held = GaugeMetricFamily(
        "postie_leases_held",
        "Leases held now on the store, per holder instance and kind (job, transfer, check,"
        " failure).",
        labels=["instance", "kind"],
    )
    for (instance, kind), count in sorted(m.leases.items()):
        held.add_metric([instance, kind], float(count))
    yield held


class _Snapshot:
    """A prometheus_client collector over one :class:`Metrics` snapshot."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return _families(self._metrics)


def render_metrics(metrics: Metrics) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of one snapshot."""
    registry = CollectorRegistry()
    registry.register(_Snapshot(metrics))
    return generate_latest(registry)
