"""Request ids, JSON logs and Prometheus metrics for the HTTP service."""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id of the request being served."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key in ("method", "path", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("askdocs")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class Metrics:
    """The service's metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "askdocs_http_requests", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "askdocs_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.chunks_ingested = Counter(
            "askdocs_chunks_ingested", "Chunks written by ingestion jobs", registry=r
        )
        self.retrieval = Histogram(
            "askdocs_retrieval_duration_seconds",
            "Retrieval latency (embed + search)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.generation = Histogram(
            "askdocs_generation_duration_seconds",
            "Generation latency",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("askdocs_tokens_generated", "Tokens generated", registry=r)
        self.answers = Counter(
            "askdocs_answers", "Answers by cache outcome", ["cache", "abstained"], registry=r
        )
        self.model_load = Gauge(
            "askdocs_model_load_seconds", "Time to load each model", ["model"], registry=r
        )
        self.generations_waiting = Gauge(
            "askdocs_generations_waiting", "Generations waiting for a slot", registry=r
        )

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)


class CallbackCollector(Collector):
    """Gauges read at scrape time (job counts by state, cache statistics)."""

    def __init__(self, name: str, doc: str, label: str, read: Callable[[], dict[str, float]]):
        self._name, self._doc, self._label, self._read = name, doc, label, read

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self._name, self._doc, labels=[self._label])
        try:
            values = self._read()
        except Exception:  # a metric source that fails must not break /metrics
            logging.getLogger("askdocs.api").warning("metrics source %s failed", self._name)
            values = {}
        for key, value in values.items():
            family.add_metric([key], value)
        yield family


def route_name(request: Request) -> str:
    """The route template (``/v1/files/{document_id}``), so ids do not explode the labels."""
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return str(getattr(route, "path", request.url.path))
    return "unmatched"


def request_middleware(
    metrics: Metrics,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    log = logging.getLogger("askdocs.access")

    async def middleware(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        request_id = "".join(c for c in request_id if c.isalnum() or c in "-_")[:64] or "-"
        request.state.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-ID"] = request_id
            # The UI sets its own script policy in a meta tag; these only work as headers.
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "no-referrer")
            response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
            return response
        finally:
            elapsed = time.perf_counter() - started
            route = route_name(request)
            metrics.requests.labels(route, request.method, str(status)).inc()
            metrics.latency.labels(route, request.method).observe(elapsed)
            log.info(
                "%s %s %d",
                request.method,
                request.url.path,
                status,
                extra={
                    "method": request.method,
                    "path": request.url.path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id_var.reset(token)

    return middleware
