"""create_app(container): the FastAPI app, its background workers and its health routes."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from askdocs.access.keys import Principal
from askdocs.api import deps, errors, schemas
from askdocs.api.deps import RateLimiter
from askdocs.api.guards import RequestGuard, is_loopback
from askdocs.api.observability import CallbackCollector, Metrics, request_middleware
from askdocs.api.routes import answers, files, openai
from askdocs.api.threads import AnswerThreads
from askdocs.cache.base import CacheStats
from askdocs.container import Container
from askdocs.errors import AskdocsError, ConfigurationError
from askdocs.jobs.store import Job
from askdocs.jobs.worker import JobRunner
from askdocs.services.ingestion import IngestOutcome
from askdocs.settings import Settings

log = logging.getLogger("askdocs.api")


class Readiness:
    """Models loaded and index synced, done once in the background after startup."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.error: str | None = None

    def warm_up(self, container: Container, metrics: Metrics) -> None:
        try:
            started = time.perf_counter()
            container.embedder.embed(["warm up"])
            metrics.model_load.labels("embedder").set(time.perf_counter() - started)
            container.index.sync()
            started = time.perf_counter()
            container.generator()
            metrics.model_load.labels("generator").set(time.perf_counter() - started)
            self.ready.set()
            log.info("ready: models loaded, index synced")
        except Exception as exc:  # reported by /readyz; the process stays up to say why
            self.error = str(exc)
            log.exception("warm-up failed")


def create_app(container: Container, *, warm_up: bool = True, workers: bool = True) -> FastAPI:
    """The app over ``container``. Without API keys (server.auth off) it must be told it
    listens on loopback (server.host), and it answers only loopback callers that name a
    loopback host (api/guards.py)."""
    server = container.settings.server
    if not server.auth and not is_loopback(server.host):
        raise ConfigurationError(
            f"refusing to serve without API keys on {server.host}: anyone who can reach it "
            "could read and delete every file. Turn auth on, or listen on 127.0.0.1."
        )
    metrics = Metrics()
    readiness = Readiness()
    runner = JobRunner(
        container.jobs,
        lambda: container.ingestion,
        container.blobs,
        threads=container.settings.server.ingest_workers,
        attempts=container.settings.server.job_attempts,
        on_done=lambda job, outcome: _job_done(metrics, job, outcome),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            threading.Thread(
                target=readiness.warm_up, args=(container, metrics), daemon=True
            ).start()
        else:
            readiness.ready.set()
        if workers:
            runner.start()
        try:
            yield
        finally:
            if workers:
                await run_in_threadpool(runner.stop)

    app = FastAPI(
        title="askdocs",
        version="1",
        summary="Answers questions about your files, with checkable citations.",
        lifespan=lifespan,
        docs_url=None,  # served below from local files: the default loads a CDN
        redoc_url=None,
    )
    app.state.container = container
    app.state.metrics = metrics
    app.state.runner = runner
    app.state.readiness = readiness
    app.state.rate_limiter = RateLimiter(server.rate_limit_per_minute)
    app.state.answer_threads = AnswerThreads(server.generation_concurrency, server.generation_queue)
    errors.install(app)
    # Added first, so it runs inside the request-id and metrics middleware: its refusals carry
    # a request id and are counted.
    app.add_middleware(RequestGuard, container=container, rate_limiter=app.state.rate_limiter)
    app.middleware("http")(request_middleware(metrics))
    metrics.add_collector(
        CallbackCollector(
            "askdocs_ingest_jobs",
            "Ingestion jobs by state",
            "state",
            lambda: {k: float(v) for k, v in container.jobs.counts().items()},
        )
    )
    metrics.add_collector(
        CallbackCollector(
            "askdocs_generations",
            "Generations running and waiting for a slot",
            "state",
            lambda: {
                "running": float(container.generation_gate.running),
                "waiting": float(container.generation_gate.waiting),
            },
        )
    )
    _add_cache_metrics(container, metrics)

    @app.get("/healthz", tags=["health"], response_model=None, responses=schemas.ok(schemas.Health))
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        response_model=None,
        responses=schemas.ok(schemas.Health) | {503: {"model": schemas.ErrorBody}},
    )
    async def readyz(request: Request) -> JSONResponse:
        """Models loaded and the index synced: ready to answer. Why a warm-up failed is
        shown only with an admin key: it can name files and addresses of the server."""
        if readiness.ready.is_set():
            return JSONResponse({"status": "ready"})
        message = "loading models and syncing the index"
        if readiness.error is not None:
            message = "warm-up failed: the server log says why"
            if _is_admin(container, request):
                message = f"warm-up failed: {readiness.error}"
        body = errors.error_body("unavailable", message)
        return JSONResponse(body, 503, headers={"Retry-After": "2"})

    # Metrics count requests, jobs and answers over every collection: an admin key reads them
    # (Prometheus sends one with `authorization: {credentials: ...}` in its scrape config).
    @app.get(
        "/metrics",
        tags=["health"],
        response_class=PlainTextResponse,
        responses={401: {"model": schemas.ErrorBody}, 403: {"model": schemas.ErrorBody}},
    )
    async def prometheus(caller: Principal = Depends(deps.requires("admin"))) -> PlainTextResponse:  # noqa: B008
        data = await run_in_threadpool(generate_latest, metrics.registry)
        return PlainTextResponse(data.decode(), media_type=CONTENT_TYPE_LATEST)

    app.mount("/docs-assets", StaticFiles(directory=_swagger_dir()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="askdocs API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )

    app.include_router(files.router)
    app.include_router(answers.router)
    app.include_router(openai.router)
    app.mount("/", StaticFiles(directory=_web_dir(), html=True), name="web")
    return app


def _is_admin(container: Container, request: Request) -> bool:
    try:
        caller = deps.authenticate(container, request.headers.get("authorization", ""))
    except AskdocsError:
        return False
    return caller.can("admin")


def _job_done(metrics: Metrics, job: Job, outcome: IngestOutcome) -> None:
    if job.state == "succeeded" and outcome.status in ("added", "updated"):
        metrics.chunks_ingested.inc(outcome.chunks)


def _add_cache_metrics(container: Container, metrics: Metrics) -> None:
    """Answer cache counters per layer (hits, misses, stale, evictions, ...) and its size,
    read from the cache backend at scrape time (shared by every process using it)."""
    metrics.add_collector(CacheCollector(lambda: container.answer_cache.stats()))


class CacheCollector(Collector):
    def __init__(self, read: Callable[[], CacheStats]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        try:
            stats = self._read()
        except Exception:  # a cache that cannot report must not break /metrics
            log.warning("answer cache statistics unavailable")
            return
        events = CounterMetricFamily(
            "askdocs_answer_cache_events", "Answer cache events", labels=["layer", "event"]
        )
        for layer, counts in stats.layers.items():
            for event, value in dataclasses.asdict(counts).items():
                events.add_metric([layer, event], float(value))
        yield events
        size = GaugeMetricFamily("askdocs_answer_cache", "Answer cache size", labels=["stat"])
        for name in ("entries", "bytes", "errors", "bypassed"):
            size.add_metric([name], float(getattr(stats, name)))
        size.add_metric(["available"], 1.0 if stats.available else 0.0)
        yield size


def _swagger_dir() -> Path:
    return Path(str(resources.files("fastapi_swagger") / "resources"))


def _web_dir() -> Path:
    return Path(str(resources.files("askdocs") / "web"))


def app_from_settings() -> FastAPI:
    """uvicorn's factory for `askdocs serve` (each worker process builds its own)."""
    from askdocs.api.observability import configure_logging
    from askdocs.container import build

    configure_logging()
    settings = Settings()
    model = os.environ.get("ASKDOCS_SERVE_MODEL")
    if model:
        from askdocs.evaluation import load_registered_settings

        settings = load_registered_settings(model, settings)
        log.info("answering with the registered configuration %s", model)
    return create_app(build(settings))
