"""In-process ingestion workers: threads that claim jobs from the JobStore and run them.

A transient failure (a storage hiccup) is retried with exponential backoff; a file that cannot
be parsed fails at once with the parser's reason. Stopping leaves the running job to be
resumed: ingestion commits are atomic, so nothing half-written is ever visible.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from askdocs.errors import DocumentNotFoundError
from askdocs.jobs.store import Job, JobStore
from askdocs.parse.sandbox import ParseCancelled
from askdocs.services.ingestion import IngestionService, IngestOutcome
from askdocs.storage.blobs import LocalBlobStore

log = logging.getLogger("askdocs.jobs")

JobDone = Callable[[Job, IngestOutcome], None]


class JobInterrupted(Exception):
    """The runner is stopping: the job goes back to the queue between two embedding steps."""


class JobCancelled(Exception):
    """The job's file was deleted while it ran: stop, commit nothing."""


class JobRunner:
    """``threads`` workers over one JobStore."""

    def __init__(
        self,
        store: JobStore,
        ingestion: Callable[[], IngestionService],
        blobs: LocalBlobStore,
        *,
        threads: int = 1,
        attempts: int = 3,
        backoff: float = 2.0,
        poll: float = 0.5,
        on_done: JobDone | None = None,
    ) -> None:
        self._store = store
        self._ingestion = ingestion
        self._blobs = blobs
        self._threads = threads
        self._attempts = attempts
        self._backoff = backoff
        self._poll = poll
        self._on_done = on_done
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        recovered, given_up = self._store.recover(self._attempts)
        if recovered:
            log.info("resuming %d interrupted ingestion job(s)", recovered)
        if given_up:
            log.warning(
                "%d job(s) were running each of the last %d times a process died; they are "
                "marked failed and not retried",
                given_up,
                self._attempts,
            )
        for n in range(self._threads):
            worker = threading.Thread(target=self._loop, name=f"askdocs-ingest-{n}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def wake(self) -> None:
        """A job was queued: do not wait for the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop claiming; a running job stops at its next embedding step (a few seconds) and
        is left queued, with nothing of it committed."""
        self._stop.set()
        self._wake.set()
        for worker in self._workers:
            worker.join(timeout)
        released = self._store.release_mine()
        if released:
            log.info("left %d running ingestion job(s) queued, to resume on restart", released)

    def run_once(self) -> Job | None:
        """Claim and run one job; returns it, or None when the queue is empty."""
        job = self._store.claim(self._attempts)
        if job is None:
            return None
        self._run(job)
        return job

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.run_once() is None:
                    self._wake.wait(self._poll)
                    self._wake.clear()
            except Exception:  # a bug in one job must not kill the worker
                log.exception("ingestion worker error")
                self._stop.wait(self._poll)

    def _run(self, job: Job) -> None:
        log.info("ingesting %s (job %s, attempt %d)", job.source, job.job_id, job.attempts)

        def progress(done: int, total: int) -> None:
            if self._stop.is_set():
                raise JobInterrupted
            if not self._store.progress(job.job_id, done, total):
                raise JobCancelled

        def cancelled() -> bool:
            return self._stop.is_set() or not self._store.is_running(job.job_id)

        try:
            outcome = self._ingestion().ingest_blob(
                job.blob,
                source=job.source,
                collection=job.collection,
                chunk_progress=progress,
                cancelled=cancelled,
                access=job.access,
            )
        except (JobInterrupted, JobCancelled, ParseCancelled):
            if self._stop.is_set():
                log.info("job %s interrupted by shutdown; it stays queued", job.job_id)
            else:
                log.info(
                    "job %s was cancelled while running: stopped, nothing committed", job.job_id
                )
            return
        except OSError as exc:
            outcome = IngestOutcome(job.source, "failed", error=str(exc), retryable=True)
        except Exception as exc:
            log.exception("job %s failed unexpectedly", job.job_id)
            outcome = IngestOutcome(job.source, "failed", error=f"internal error: {exc}")
        if outcome.status != "failed":
            if not self._store.succeed(
                job.job_id,
                outcome=outcome.status,
                version=outcome.version or job.version,
                chunks=outcome.chunks,
            ):
                # Deleted while it was being ingested: the delete wins.
                log.info("job %s was cancelled while running; removing its document", job.job_id)
                with contextlib.suppress(DocumentNotFoundError):
                    self._ingestion().delete(job.document_id)
        elif outcome.retryable and job.attempts < self._attempts:
            delay = self._backoff * 2 ** (job.attempts - 1)
            log.warning("job %s: %s; retrying in %.0f s", job.job_id, outcome.error, delay)
            self._store.retry(job.job_id, outcome.error or "failed", delay)
        else:
            self._store.fail(job.job_id, outcome.error or "failed")
        if self._on_done is not None:
            done = self._store.get(job.job_id)
            if done is not None:
                self._on_done(done, outcome)
