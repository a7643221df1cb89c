"""`askdocs cache stats|clear` on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from askdocs.cache.factory import build_caches
from askdocs.cli.app import app
from askdocs.settings import CacheSettings, Settings
from cache_support import BACKENDS, close_caches, make_answer  # noqa: F401
from redis_server import RedisServer


@pytest.fixture(params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    values = {"ASKDOCS_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        values["ASKDOCS_CACHE_URL"] = server.url
        values["ASKDOCS_CACHE__PREFIX"] = request.getfixturevalue("redis_prefix")
    return values


def fill(env: dict[str, str]) -> None:
    settings = Settings(
        data_dir=Path(env["ASKDOCS_DATA_DIR"]),
        cache_url=env.get("ASKDOCS_CACHE_URL"),
        cache=CacheSettings(prefix=env.get("ASKDOCS_CACHE__PREFIX", "askdocs:")),
    )
    answers, vectors = build_caches(settings)
    for name in "ab":
        answers.put(name, make_answer(name), [("d", name)], (1, 1))
    answers.touch("a", (1, 1))
    vectors.put_many("query:m", {"q": np.ones(4, dtype=np.float32)})
    vectors.put_many("m", {"c": np.ones(4, dtype=np.float32)})
    answers.close()
    vectors.close()


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner(env=env).invoke(app, ["cache", *args], input=stdin)
    return result.exit_code, result.output


def test_stats_table_and_json(env: dict[str, str]) -> None:
    fill(env)
    code, text = run(env, "stats")
    assert code == 0 and "answers:" in text and "2 entries" in text and "exact" in text
    code, text = run(env, "stats", "--json")
    assert code == 0
    data = json.loads(text)
    assert data["answers"]["entries"] == 2 and data["answers"]["layers"]["exact"]["hits"] == 1
    assert data["embeddings"]["entries"] == 2 and data["answers"]["available"] is True
    assert data["answers"]["backend"] == ("redis" if "ASKDOCS_CACHE_URL" in env else "sqlite")


def test_clear_asks_first_and_keeps_chunk_vectors(env: dict[str, str]) -> None:
    fill(env)
    code, text = run(env, "clear", stdin="n\n")
    assert code == 1 and "nothing removed" in text
    assert json.loads(run(env, "stats", "--json")[1])["answers"]["entries"] == 2
    code, text = run(env, "clear", "--yes")
    assert code == 0 and "removed 2 answers and 1 vectors" in text
    data = json.loads(run(env, "stats", "--json")[1])
    assert data["answers"]["entries"] == 0 and data["embeddings"]["entries"] == 1
    assert data["answers"]["layers"]["exact"]["hits"] == 1  # counters stay...
    code, text = run(env, "clear", "--yes", "--embeddings", "--reset-stats")
    data = json.loads(run(env, "stats", "--json")[1])
    assert data["embeddings"]["entries"] == 0
    assert data["answers"]["layers"]["exact"]["hits"] == 0  # ...unless reset
