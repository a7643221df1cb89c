"""A broken cache never breaks answering: corrupt SQLite files are moved aside and replaced,
a dead Redis is bypassed (logged, counted) and picked up again when it returns."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from askdocs.cache.answers import SqliteAnswerCache
from askdocs.cache.embeddings import SqliteEmbeddingCache
from askdocs.cache.redis_answers import RedisAnswerCache
from askdocs.container import Container
from askdocs.services.answering import AskOptions
from cache_support import cache_container, close_caches, generator_calls, make_answer  # noqa: F401
from redis_server import RedisServer, free_port

GUIDE = "# Widget\n\n## Colour\n\nThe default colour of the widget is teal.\n"
QUESTION = "What is the default colour of the widget?"


def ready(container: Container, tmp_path: Path) -> Container:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "guide.md").write_text(GUIDE, encoding="utf-8")
    container.ingestion.ingest_paths([docs], collection="c")
    return container


def ask(container: Container) -> str:
    answer = container.answering.answer(QUESTION, AskOptions())
    assert "teal" in answer.answer
    return answer.cache


def moved_aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".corrupt-*"))


def test_a_file_that_is_not_a_database_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache" / "answers.sqlite"
    path.parent.mkdir()
    path.write_bytes(b"this is not a database file " * 200)
    with caplog.at_level(logging.WARNING, logger="askdocs.cache"):
        cache = SqliteAnswerCache(path)
    assert len(moved_aside(path)) == 1 and "corrupt" in caplog.text
    cache.put("k", make_answer("q"), [("d", "h")], (1, 1))
    assert cache.get("k") is not None and cache.count() == 1
    cache.close()


def test_damaged_pages_are_found_on_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "embeddings.sqlite"
    first = SqliteEmbeddingCache(path)
    first.put_many("m", {f"sha{i}": np.ones(384, dtype=np.float32) for i in range(300)})
    first.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    data[3 * page : 6 * page] = b"\xa5" * (3 * page)  # b-tree pages, header intact
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="askdocs.cache"):
        cache = SqliteEmbeddingCache(path)
    assert len(moved_aside(path)) == 1 and "corrupt" in caplog.text
    assert cache.count() == 0 and cache.get_many("m", ["sha1"]) == {}
    cache.put_many("m", {"sha1": np.ones(384, dtype=np.float32)})
    assert set(cache.get_many("m", ["sha1"])) == {"sha1"}
    cache.close()


def test_corruption_while_open_is_a_miss_then_a_fresh_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "answers.sqlite"
    cache = SqliteAnswerCache(path)
    cache.put("k", make_answer("q"), [("d", "h")], (1, 1))
    cache.close()  # the next statement reconnects and reads the header again
    path.write_bytes(b"\x00garbage" * 4096)
    for side in ("-wal", "-shm"):
        path.with_name(path.name + side).unlink(missing_ok=True)
    with caplog.at_level(logging.WARNING, logger="askdocs.cache"):
        assert cache.get("k") is None
    assert len(moved_aside(path)) == 1
    cache.put("k", make_answer("q"), [("d", "h")], (1, 1))
    assert cache.get("k") is not None
    cache.close()


def test_a_cache_of_an_older_layout_starts_over_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "answers.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL, passages TEXT"
            " NOT NULL, versions TEXT NOT NULL, last_used REAL NOT NULL);"
            "CREATE TABLE answer_documents (key TEXT NOT NULL, document_id TEXT NOT NULL,"
            " PRIMARY KEY (document_id, key));"
            "INSERT INTO answers VALUES ('k', '{}', '[]', '[1, 1]', 0);"
            "INSERT INTO answer_documents VALUES ('k', 'd');"
        )
    db.close()
    with caplog.at_level(logging.WARNING, logger="askdocs.cache"):
        cache = SqliteAnswerCache(path)
        assert cache.get("k") is None and cache.count() == 0
        cache.put("k", make_answer("q"), [("d", "h")], (1, 1))
        assert cache.get("k") is not None
    assert moved_aside(path) == [] and caplog.records == []
    cache.close()


def test_the_service_starts_with_a_corrupt_cache_and_keeps_answering(tmp_path: Path) -> None:
    cache_dir = tmp_path / "data" / "cache"
    cache_dir.mkdir(parents=True)
    (cache_dir / "answers.sqlite").write_bytes(b"not sqlite" * 1000)
    (cache_dir / "embeddings.sqlite").write_bytes(b"not sqlite either" * 1000)
    container = ready(cache_container(tmp_path / "data"), tmp_path)
    assert ask(container) == "miss" and ask(container) == "exact"
    assert len(moved_aside(cache_dir / "answers.sqlite")) == 1
    assert len(moved_aside(cache_dir / "embeddings.sqlite")) == 1


def test_the_sqlite_cache_survives_a_restart(tmp_path: Path) -> None:
    first = ready(cache_container(tmp_path / "data"), tmp_path)
    assert ask(first) == "miss"
    first.answer_cache.close()
    restarted = cache_container(tmp_path / "data")
    assert ask(restarted) == "exact" and generator_calls(restarted) == 0


def test_redis_down_is_bypassed_and_picked_up_again(
    tmp_path: Path, own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = own_redis_server.url
    container = ready(
        cache_container(tmp_path / "data", cache_url=url, retry_after_seconds=0.2), tmp_path
    )
    assert ask(container) == "miss" and ask(container) == "exact"
    own_redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="askdocs.cache"):
        assert ask(container) == "miss"  # answered, generated, nothing cached
        assert ask(container) == "miss"
    assert generator_calls(container) == 3
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert 1 <= len(warnings) <= 2  # once per cache (answers, question vectors), not per call
    stats = container.answer_cache.stats()
    assert not stats.available and stats.errors >= 1 and stats.bypassed >= 1
    own_redis_server.start()  # same port, empty (no persistence)
    time.sleep(0.3)
    assert ask(container) == "miss" and ask(container) == "exact"
    assert generator_calls(container) == 4
    stats = container.answer_cache.stats()
    # What happened while Redis was down joined the shared counters.
    assert stats.available and stats.errors >= 1 and stats.layers["exact"].hits == 1


def test_a_redis_that_never_answers_costs_no_errors(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    container = ready(cache_container(tmp_path / "data", cache_url=url), tmp_path)
    assert ask(container) == "miss" and ask(container) == "miss"
    cache = container.answer_cache
    assert isinstance(cache, RedisAnswerCache) and cache.health.errors >= 1
    assert cache.health.bypassed >= 1  # skipped, not retried, while it is known to be down
