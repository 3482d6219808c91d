"""/metrics: the gate in Prometheus's text format, through prometheus_client.

Most series are read from the store at each scrape (StoreCollector), not
counted in this process: they survive a restart of the web service or of
the engine, and agree with the pages. Counters derived from results grow
as results are added (results are never removed). A few series are counted
here (admin requests), and the connection series are defined now, empty,
for the forge connections to fill (see docs/api.md, Metrics).
"""
from __future__ import annotations

from typing import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from ..config.model import Layout
from .estimates import job_duration
from .reader import StateReader

QUEUE_BUCKETS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)
BUILD_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
PUBLISH_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)


class WebMetrics:
    """The registry /metrics serves, and the series counted in this process."""

    def __init__(self, reader: StateReader, layout: Layout):
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(StoreCollector(reader, layout))
        self.admin_requests = Counter(
            "gateq_web_admin_requests", "Admin API requests that passed the token check, "
            "by action and outcome (recorded, refused, unavailable)",
            ["action", "outcome"], registry=self.registry)
        # Placeholders for the forge connections (webhooks): no samples yet.
        self.events_received = Counter(
            "gateq_connection_events_received", "Events received per connection "
            "(webhook deliveries accepted)", ["connection"], registry=self.registry)
        self.connection_up = Gauge(
            "gateq_connection_up", "1 while the connection is reachable, else 0",
            ["connection"], registry=self.registry)

    def admin(self, action: str, outcome: str) -> None:
        self.admin_requests.labels(action=action, outcome=outcome).inc()


class StoreCollector:
    """Collects from the status snapshot and the results at every scrape."""

    def __init__(self, reader: StateReader, layout: Layout):
        self.reader = reader
        self.layout = layout

    def describe(self) -> Iterable:
        return []                       # names come from collect(); no store read at start

    def collect(self) -> Iterable:
        status = self.reader.status()
        results = self.reader.results()
        yield from status_metrics(status)
        yield from result_counters(results, status)
        yield from result_histograms(results)
        yield from outbox_metrics(self.reader.outbox())


def status_metrics(status: dict) -> Iterable:
    items = GaugeMetricFamily("gateq_queue_items", "Items in each pipeline's queue",
                              labels=["pipeline", "queue"])
    for pipeline in status.get("pipelines", ()):
        for queue in pipeline["queues"]:
            items.add_metric([pipeline["name"], queue["name"]], len(queue["items"]))
    yield items
    yield GaugeMetricFamily("gateq_running_builds", "Builds running now",
                            value=status.get("running_builds", 0))
    yield GaugeMetricFamily("gateq_build_slots", "Builds that may run at a time",
                            value=status.get("slots", 0))
    yield GaugeMetricFamily("gateq_journal_backlog", "Journal rows the engine has not read yet",
                            value=status.get("pending_events", 0))


def outbox_metrics(outbox: dict[str, dict]) -> Iterable:
    """The report outbox, per connection (the store keeps it: gateq/outbox.py)."""
    families = {
        "pending": GaugeMetricFamily("gateq_report_outbox_size", "Reports waiting to be sent",
                                     labels=["connection"]),
        "failing": GaugeMetricFamily("gateq_report_outbox_failing", "Reports waiting to be sent "
                                     "again after a failed attempt", labels=["connection"]),
        "refused": GaugeMetricFamily("gateq_report_refused", "Reports the review system refused "
                                     "for good (kept until the outbox is pruned)",
                                     labels=["connection"]),
    }
    for connection, counts in sorted(outbox.items()):
        for key, family in families.items():
            family.add_metric([connection], counts.get(key) or 0)
    yield from families.values()


def result_counters(results: Sequence[dict], status: dict) -> Iterable:
    finished = CounterMetricFamily("gateq_items_finished", "Items that left a pipeline, by "
                                   "result", labels=["pipeline", "result"])
    landings = CounterMetricFamily("gateq_landings", "Items landed", labels=["pipeline"])
    conflicts = CounterMetricFamily("gateq_merge_conflicts", "Items ejected on a merge conflict",
                                    labels=["pipeline"])
    resets = CounterMetricFamily("gateq_resets", "Items re-tested on a new base (generations "
                                 "past the first, finished and queued items)", labels=["pipeline"])
    published = CounterMetricFamily("gateq_snapshots_published", "Snapshots published",
                                    labels=["repository"])
    for key, count in tally(results, lambda r: (r["pipeline"], r["result"])).items():
        finished.add_metric(list(key), count)
    for key, count in tally([r for r in results if r["result"] == "merged"],
                            lambda r: r["pipeline"]).items():
        landings.add_metric([key], count)
    for key, count in tally([r for r in results if r["result"] == "merge-conflict"],
                            lambda r: r["pipeline"]).items():
        conflicts.add_metric([key], count)
    for pipeline, count in reset_counts(results, status).items():
        resets.add_metric([pipeline], count)
    repos: dict[str, int] = {}
    for record in results:
        for repository in (record.get("snapshot") or {}):
            repos[repository] = repos.get(repository, 0) + 1
    for repository, count in sorted(repos.items()):
        published.add_metric([repository], count)
    yield from (finished, landings, conflicts, resets, published)


def tally(records: Sequence[dict], key) -> dict:
    counts: dict = {}
    for record in records:
        counts[key(record)] = counts.get(key(record), 0) + 1
    return counts


def reset_counts(results: Sequence[dict], status: dict) -> dict[str, int]:
    """Generations past the first: a finished item's is in its build ids
    (ITEM-GENERATION-JOB), a queued item's in the snapshot."""
    counts: dict[str, int] = {}
    for record in results:
        generations = [int(job["build"].split("-")[1]) for job in record["jobs"]
                       if job.get("build") and job["build"].split("-")[1].isdigit()]
        counts[record["pipeline"]] = counts.get(record["pipeline"], 0) + max(generations, default=0)
    for pipeline in status.get("pipelines", ()):
        for queue in pipeline["queues"]:
            for item in queue["items"]:
                counts[pipeline["name"]] = counts.get(pipeline["name"], 0) + item.get("generation", 0)
    return counts


def result_histograms(results: Sequence[dict]) -> Iterable:
    in_queue = Histogram("gateq_time_in_queue_seconds", "From enqueue to leaving the pipeline, "
                         "by pipeline and result", ["pipeline", "result"], QUEUE_BUCKETS)
    to_land = Histogram("gateq_time_to_land_seconds", "From enqueue to landing",
                        ["pipeline"], QUEUE_BUCKETS)
    builds = Histogram("gateq_build_duration_seconds", "A job's own run time, by job and result",
                       ["job", "result"], BUILD_BUCKETS)
    publish = Histogram("gateq_publish_latency_seconds", "From an item's last job ending to its "
                        "landing and snapshots being recorded", ["pipeline"], PUBLISH_BUCKETS)
    for record in results:
        waited = record["finished_at"] - record["enqueued_at"]
        in_queue.observe((record["pipeline"], record["result"]), waited)
        if record["result"] == "merged":
            to_land.observe((record["pipeline"],), waited)
        ends = [j["finished_at"] for j in record["jobs"] if j.get("finished_at")]
        if record.get("snapshot") and ends:
            publish.observe((record["pipeline"],), max(0.0, record["finished_at"] - max(ends)))
        for job in record["jobs"]:
            took = job_duration(job)
            if took is not None:
                builds.observe((job["name"], job["result"]), took)
    yield from (h.family() for h in (in_queue, to_land, builds, publish))


class Histogram:
    """A histogram family filled from stored observations, per label set."""

    def __init__(self, name: str, doc: str, labels: list[str], buckets: Sequence[float]):
        self.name, self.doc, self.labels, self.buckets = name, doc, labels, tuple(buckets)
        self.series: dict[tuple, tuple[list[int], list[float]]] = {}

    def observe(self, labels: tuple, value: float) -> None:
        counts, total = self.series.setdefault(labels, ([0] * (len(self.buckets) + 1), [0.0]))
        index = next((i for i, le in enumerate(self.buckets) if value <= le), len(self.buckets))
        counts[index] += 1
        total[0] += value

    def family(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for labels, (counts, total) in sorted(self.series.items()):
            cumulative, buckets = 0, []
            for le, count in zip([*map(str, self.buckets), "+Inf"], counts):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(list(labels), buckets, total[0])
        return family
