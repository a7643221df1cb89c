"""Cached answers as stored: JSON text both backends write and read back."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from askdocs.cache.base import CachedAnswer, PassageKey, log
from askdocs.models import Answer, Chunk, Citation, Passage, Quote

# Bytes an entry costs besides its texts (row, index and bookkeeping), for the max_bytes bound.
ENTRY_OVERHEAD = 256


def encode_answer(answer: Answer) -> str:
    return json.dumps(dataclasses.asdict(answer), separators=(",", ":"))


def encode_passages(passages: list[PassageKey]) -> str:
    return json.dumps(passages, separators=(",", ":"))


def encode_versions(versions: tuple[int, int]) -> str:
    return json.dumps(list(versions))


def decode_entry(
    answer: str | bytes, passages: str | bytes, versions: str | bytes
) -> CachedAnswer | None:
    """The stored entry, or None when it cannot be read back (written by another askdocs
    version, or damaged): a miss, and the next answer replaces it."""
    try:
        found = json.loads(versions)
        return CachedAnswer(
            _answer_from_json(json.loads(answer)),
            [(str(d), str(s)) for d, s in json.loads(passages)],
            (int(found[0]), int(found[1])),
        )
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        log.warning("unreadable cache entry ignored (%s: %s)", type(exc).__name__, exc)
        return None


def entry_size(key: str, answer: str, passages: str, vector_bytes: int) -> int:
    return len(key) + len(answer.encode()) + len(passages) + vector_bytes + ENTRY_OVERHEAD


def _passage_from_json(data: dict[str, Any]) -> Passage:
    chunk = dict(data["chunk"])
    chunk["heading"] = tuple(chunk["heading"])
    return Passage(Chunk(**chunk), float(data["score"]))


def _answer_from_json(data: dict[str, Any]) -> Answer:
    return Answer(
        question=str(data["question"]),
        answer=str(data["answer"]),
        citations=[
            Citation(int(c["n"]), _passage_from_json(c["passage"])) for c in data["citations"]
        ],
        passages=[_passage_from_json(p) for p in data["passages"]],
        abstained=bool(data["abstained"]),
        quotes=[Quote(**q) for q in data["quotes"]],
        cache=str(data["cache"]),
        timings_ms=dict(data["timings_ms"]),
        answer_mode=data.get("answer_mode"),
    )
