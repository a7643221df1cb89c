"""One contract, two backends: the answer and embedding caches behave the same on SQLite and
on a real redis-server."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from askdocs.cache.base import QUERY_PREFIX
from askdocs.cache.keys import cache_key, scope_digest
from cache_support import (  # noqa: F401
    BACKENDS,
    answer_cache,
    close_caches,
    embedding_cache,
    make_answer,
)
from redis_server import RedisServer

SCOPE = scope_digest(["c"], "", {"k": 5})
OTHER_SCOPE = scope_digest(["c"], "another-key", {"k": 5})


def unit(seed: int, dim: int = 16) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_put_get_touch(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    cache = answer_cache(backend, request, tmp_path)
    key = cache_key("What colour is the widget?", SCOPE)
    assert cache.get(key) is None
    answer = make_answer("What colour is the widget?")
    cache.put(key, answer, [("doc-guide.md", "abc")], (3, 4), scope=SCOPE)
    entry = cache.get(key)
    assert entry is not None
    assert entry.answer == answer and entry.passages == [("doc-guide.md", "abc")]
    assert entry.versions == (3, 4) and cache.count() == 1
    cache.touch(key, (5, 6))
    touched = cache.get(key)
    assert touched is not None and touched.versions == (5, 6)
    assert cache.stats().layers["exact"].hits == 1
    # Replacing an entry keeps one, and its bytes once.
    size = cache.stats().bytes
    cache.put(key, answer, [("doc-guide.md", "abc")], (7, 8), scope=SCOPE)
    assert cache.count() == 1 and cache.stats().bytes == size


def test_keys_differ_by_scope_and_not_by_spelling() -> None:
    assert cache_key("What colour?", SCOPE) == cache_key("  what COLOUR ", SCOPE)
    assert cache_key("What colour?", SCOPE) != cache_key("What colour?", OTHER_SCOPE)
    assert scope_digest(["a", "b"], "", {}) == scope_digest(["b", "a"], "", {})
    assert scope_digest(["a"], "", {}) != scope_digest(["a", "b"], "", {})


def test_similar_stays_within_its_scope(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    cache = answer_cache(backend, request, tmp_path)
    near, far = unit(1), unit(2)
    cache.put("k-near", make_answer("q1"), [("d", "h")], (1, 1), scope=SCOPE, vector=near)
    cache.put("k-far", make_answer("q2"), [("d", "h")], (1, 1), scope=SCOPE, vector=far)
    cache.put("k-other", make_answer("q3"), [("d", "h")], (1, 1), scope=OTHER_SCOPE, vector=near)
    found = cache.similar(SCOPE, near, 0.9)
    assert [k for k, _ in found] == ["k-near"] and found[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [k for k, _ in cache.similar(OTHER_SCOPE, near, 0.9)] == ["k-other"]
    assert cache.similar(scope_digest(["x"], "", {}), near, 0.0) == []


def test_purge_removes_every_answer_that_quoted_a_document(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    cache = answer_cache(backend, request, tmp_path)
    v = unit(3)
    cache.put("a", make_answer("qa"), [("doc-1", "h1"), ("doc-2", "h2")], (1, 1), scope=SCOPE)
    cache.put("b", make_answer("qb"), [("doc-2", "h2")], (1, 1), scope=SCOPE, vector=v)
    cache.put("c", make_answer("qc"), [("doc-3", "h3")], (1, 1), scope=SCOPE)
    assert cache.purge_documents(["doc-2"]) == 2
    assert cache.get("a") is None and cache.get("b") is None and cache.get("c") is not None
    assert cache.similar(SCOPE, v, 0.5) == []  # its question vector went too
    assert cache.purge_documents(["doc-2"]) == 0 and cache.purge_documents([]) == 0
    assert cache.count() == 1


def test_lru_by_entries(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    cache = answer_cache(backend, request, tmp_path, max_entries=3)
    for name in "abc":
        cache.put(name, make_answer(name), [("d", name)], (1, 1), scope=SCOPE, vector=unit(4))
        time.sleep(0.002)
    cache.touch("a", (1, 1))  # a is now the most recently used; b the least
    cache.put("d", make_answer("d"), [("d", "d")], (1, 1), scope=SCOPE)
    assert cache.get("b") is None
    assert all(cache.get(k) is not None for k in "acd")
    stats = cache.stats()
    assert stats.entries == 3
    assert stats.layers["exact"].evictions == 1 and stats.layers["semantic"].evictions == 1


def test_lru_by_bytes(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    probe = answer_cache(backend, request, tmp_path / "probe")
    probe.put("a", make_answer("a"), [("d", "a")], (1, 1))
    one = probe.stats().bytes
    assert one > 0
    cache = answer_cache(backend, request, tmp_path, max_bytes=int(one * 2.5))
    if backend == "redis":
        cache.clear()
    for name in "abcd":
        cache.put(name, make_answer(name), [("d", name)], (1, 1))
        time.sleep(0.002)
    stats = cache.stats()
    assert stats.entries == 2 and stats.bytes <= one * 2.5
    assert cache.get("a") is None and cache.get("b") is None and cache.get("d") is not None
    assert stats.layers["exact"].evictions == 2


def test_ttl_expiry(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    cache = answer_cache(backend, request, tmp_path, ttl_seconds=0.3)
    cache.put("old", make_answer("old"), [("d", "o")], (1, 1))
    cache.put("older", make_answer("older"), [("d", "o2")], (1, 1))
    assert cache.get("old") is not None
    time.sleep(0.4)
    assert cache.get("old") is None  # not served, and removed
    cache.put("new", make_answer("new"), [("d", "n")], (1, 1))  # a put sweeps the rest
    assert cache.count() == 1 and cache.get("new") is not None
    assert cache.stats().layers["exact"].expired == 2


def test_stats_add_up_across_instances(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    first = answer_cache(backend, request, tmp_path)
    second = answer_cache(backend, request, tmp_path)  # another process, in effect
    first.put("a", make_answer("a"), [("d", "a")], (1, 1))
    first.touch("a", (1, 1))
    second.touch("a", (1, 1), layer="semantic")
    first.record({"exact:misses": 2, "semantic:misses": 1, "semantic:rejected": 1})
    second.record({"exact:misses": 1, "exact:stale": 1})
    for cache in (first, second):
        stats = cache.stats()
        assert stats.entries == 1 and stats.available and stats.errors == 0
        assert stats.layers["exact"].hits == 1 and stats.layers["semantic"].hits == 1
        assert stats.layers["exact"].misses == 3 and stats.layers["exact"].stale == 1
        assert stats.layers["semantic"].rejected == 1


def test_clear(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    cache = answer_cache(backend, request, tmp_path)
    for name in "abc":
        cache.put(name, make_answer(name), [("d", name)], (1, 1), scope=SCOPE, vector=unit(5))
    cache.touch("a", (1, 1))
    assert cache.clear() == 3
    assert cache.count() == 0 and cache.get("a") is None and cache.similar(SCOPE, unit(5), 0) == []
    assert cache.stats().bytes == 0 and cache.stats().layers["exact"].hits == 1
    cache.clear(reset_stats=True)
    assert cache.stats().layers["exact"].hits == 0
    cache.put("a", make_answer("a"), [("d", "a")], (1, 1))  # usable after a clear
    assert cache.get("a") is not None


def test_redis_clear_removes_only_its_own_keys(
    redis_server: RedisServer, redis_prefix: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    client = redis_server.client()
    request.addfinalizer(client.close)
    client.set("someone-else:key", b"keep me")
    client.set(redis_prefix + "x", b"no cache key either")
    cache = answer_cache("redis", request, tmp_path)
    cache.put("a", make_answer("a"), [("d", "a")], (1, 1))
    cache.clear(reset_stats=True)
    assert client.get("someone-else:key") == b"keep me"
    assert client.get(redis_prefix + "x") == b"no cache key either"
    assert not [k for k in client.scan_iter() if k.startswith(f"{redis_prefix}ans:".encode())]


def test_embeddings_contract(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    cache = embedding_cache(backend, request, tmp_path, max_query_entries=2)
    vectors = {f"sha{i}": unit(i, 8) for i in range(3)}
    cache.put_many("model-a", vectors)
    found = cache.get_many("model-a", ["sha0", "sha2", "missing"])
    assert set(found) == {"sha0", "sha2"}
    assert np.allclose(found["sha2"], vectors["sha2"])
    assert cache.get_many("model-b", ["sha0"]) == {}  # vectors never cross models
    # Question vectors are bounded, least recently used first.
    query_model = QUERY_PREFIX + "model-a"
    cache.put_many(query_model, {"q1": unit(10, 8)})
    time.sleep(0.002)
    cache.put_many(query_model, {"q2": unit(11, 8)})
    time.sleep(0.002)
    assert set(cache.get_many(query_model, ["q1"])) == {"q1"}  # q1 now more recent than q2
    time.sleep(0.002)
    cache.put_many(query_model, {"q3": unit(12, 8)})
    assert set(cache.get_many(query_model, ["q1", "q2", "q3"])) == {"q1", "q3"}
    stats = cache.stats()
    assert stats.entries == 5 and stats.bytes == 5 * 8 * 4
    assert stats.layers["embeddings"].hits == 2 and stats.layers["embeddings"].misses == 2
    assert stats.layers["queries"].hits == 3 and stats.layers["queries"].misses == 1
    assert stats.layers["queries"].evictions == 1
    assert cache.clear(queries_only=True) == 2
    assert cache.count() == 3 and cache.get_many(query_model, ["q1"]) == {}
    assert cache.clear() == 3 and cache.count() == 0


def test_an_unreadable_entry_is_a_miss(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    cache = answer_cache(backend, request, tmp_path)
    cache.put("k", make_answer("q"), [("d", "h")], (1, 1))
    if backend == "sqlite":
        with sqlite3.connect(tmp_path / "answers.sqlite") as db:
            db.execute('UPDATE answers SET answer = \'{"not": "an answer"}\'')
        db.close()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        client = server.client()
        client.hset(request.getfixturevalue("redis_prefix") + "ans:e:k", "a", b"[1, 2")
        client.close()
    assert cache.get("k") is None
    cache.put("k", make_answer("q"), [("d", "h")], (1, 1))  # the next answer replaces it
    assert cache.get("k") is not None


def test_neighbour_search_sees_other_processes_writes(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Each process keeps a copy of a scope's vectors; another process's put, purge or
    clear must show in its next search."""
    mine = answer_cache(backend, request, tmp_path)
    theirs = answer_cache(backend, request, tmp_path)
    v1, v2 = unit(21), unit(22)
    assert mine.similar(SCOPE, v1, 0.9) == []
    theirs.put("one", make_answer("q1"), [("doc-1", "h")], (1, 1), scope=SCOPE, vector=v1)
    assert [k for k, _ in mine.similar(SCOPE, v1, 0.9)] == ["one"]
    theirs.put("two", make_answer("q2"), [("doc-2", "h")], (1, 1), scope=SCOPE, vector=v2)
    assert [k for k, _ in mine.similar(SCOPE, v2, 0.9)] == ["two"]
    theirs.purge_documents(["doc-2"])
    assert mine.similar(SCOPE, v2, 0.9) == []
    theirs.clear()
    assert mine.similar(SCOPE, v1, 0.9) == []
    theirs.put("three", make_answer("q3"), [("doc-3", "h")], (1, 1), scope=SCOPE, vector=v1)
    assert [k for k, _ in mine.similar(SCOPE, v1, 0.9)] == ["three"]
