"""Parse files in child processes with a memory cap, a CPU cap and a wall-clock timeout.

A parser is the one stage that runs a third-party library over bytes a stranger chose: a zip
bomb, a spreadsheet that claims a billion cells, a PDF built to make pypdf spin. Here the
worst it can do is end its own process, which fails that file with a clear error; Pebble's
pool replaces the process, and the API and ingestion workers never notice.

Children are started with ``spawn``: a forked child would inherit the parent's threads and
open Delta and SQLite handles (see DESIGN.md on delta-rs and fork).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import math
import multiprocessing
import resource
import signal
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from pebble import ProcessExpired, ProcessPool

from askdocs.errors import ParseError
from askdocs.models import ParsedDocument
from askdocs.parse.registry import parse_document
from askdocs.settings import ParseSettings

log = logging.getLogger("askdocs.parse")

_POLL_SECONDS = 0.2
_MIB = 1024 * 1024


class ParseCancelled(Exception):
    """The caller gave up on the file (its job was cancelled) while it was being parsed."""


class ParseSandbox:
    """A pool of ``limits.processes`` parse processes; ``parse`` is safe from any thread."""

    def __init__(self, limits: ParseSettings) -> None:
        self.limits = limits
        self._pool: ProcessPool | None = None
        self._lock = threading.Lock()

    def parse(
        self, data: bytes | Path, name: str, cancelled: Callable[[], bool] | None = None
    ) -> ParsedDocument:
        """``parse_document`` in a child process; raises ``ParseError`` for whatever goes
        wrong there, and ``ParseCancelled`` (the child stopped) once ``cancelled()`` is true.

        ``data`` is the file's bytes, or the path of a local file the child reads itself.
        """
        if self.limits.processes == 0:
            return parse_document(_read(data), name, self.limits)
        future = self._submit(data, name)
        while True:
            done, _ = concurrent.futures.wait([future], timeout=_POLL_SECONDS)
            if done:
                break
            if cancelled is not None and cancelled():
                future.cancel()  # Pebble ends the child that runs it
                raise ParseCancelled(name)
        try:
            return future.result()
        except ParseError:
            raise
        except TimeoutError as exc:  # before OSError, whose subclass it is
            raise ParseError(
                f"{name}: parsing took longer than {self.limits.timeout_seconds:g} s (setting "
                "parse.timeout_seconds); the file is too large or built to stall the parser: "
                "split it or re-save it in its application"
            ) from exc
        except ProcessExpired as exc:  # also before OSError
            raise ParseError(f"{name}: {_crash_message(exc.exitcode, self.limits)}") from exc
        except MemoryError as exc:
            raise ParseError(f"{name}: {_memory_message(self.limits)}") from exc
        except BrokenProcessPool as exc:
            # The child died before it had the task: out of memory taking the file's bytes.
            self._discard_pool()
            raise ParseError(f"{name}: {_memory_message(self.limits)}") from exc
        except concurrent.futures.CancelledError as exc:
            raise ParseCancelled(name) from exc
        except OSError:
            raise  # the child could not read the file it was given
        except Exception as exc:  # an unpicklable result or a parser bug: still this file's
            log.exception("parsing %s failed in its subprocess", name)
            raise ParseError(f"{name}: the parser failed ({type(exc).__name__})") from exc

    def close(self) -> None:
        with self._lock:
            self._stop_pool()

    def _discard_pool(self) -> None:
        with self._lock:
            self._stop_pool()

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.stop()  # type: ignore[no-untyped-call]
            self._pool.join(5)
            self._pool = None

    def _submit(self, data: bytes | Path, name: str) -> concurrent.futures.Future[ParsedDocument]:
        with self._lock:
            if self._pool is not None and not self._pool.active:
                self._stop_pool()  # broken by a child that died between tasks
            if self._pool is None:
                self._pool = ProcessPool(
                    max_workers=self.limits.processes,
                    initializer=_limit_memory,
                    initargs=(self.limits.memory_mb,),
                    context=multiprocessing.get_context("spawn"),
                )
            future: concurrent.futures.Future[ParsedDocument] = self._pool.submit(
                _parse_limited, self.limits.timeout_seconds, data, name, self.limits
            )
            return future


_shared: dict[str, ParseSandbox] = {}
_shared_lock = threading.Lock()


def shared_sandbox(limits: ParseSettings) -> ParseSandbox:
    """One pool per process and set of limits: every container and test shares it."""
    key = limits.model_dump_json()
    with _shared_lock:
        if key not in _shared:
            _shared[key] = ParseSandbox(limits)
        return _shared[key]


def _memory_message(limits: ParseSettings) -> str:
    return (
        f"the file needs more than the {limits.memory_mb} MB parse memory limit (setting "
        "parse.memory_mb); split it, or re-save it in its application"
    )


def _crash_message(exitcode: int | None, limits: ParseSettings) -> str:
    if exitcode == -signal.SIGXCPU:
        return (
            f"parsing used more than {limits.cpu_seconds} s of CPU (setting "
            "parse.cpu_seconds); the file is too large or built to stall the parser: split it"
        )
    # Allocation failures inside C parsers (lxml, zlib) end the process rather than raising.
    return (
        f"the parser's process ended ({_describe(exitcode)}), most likely out of the "
        f"{limits.memory_mb} MB parse memory limit (setting parse.memory_mb); split the "
        "file or re-save it in its application"
    )


def _describe(exitcode: int | None) -> str:
    if exitcode is None or exitcode >= 0:
        return f"exit status {exitcode}"
    with contextlib.suppress(ValueError):
        return signal.Signals(-exitcode).name
    return f"signal {-exitcode}"


# -- in the child ------------------------------------------------------------------------


def _limit_memory(memory_mb: int) -> None:
    limit = memory_mb * _MIB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _read(data: bytes | Path) -> bytes:
    return data.read_bytes() if isinstance(data, Path) else data


def _parse_limited(data: bytes | Path, name: str, limits: ParseSettings) -> ParsedDocument:
    # The CPU limit counts from now: the process lives on across files.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (used + limits.cpu_seconds, hard))
    try:
        return parse_document(_read(data), name, limits)
    except MemoryError:
        raise ParseError(f"{name}: {_memory_message(limits)}") from None
