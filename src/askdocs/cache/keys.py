"""Cache keys: what makes two requests the same question in the same scope."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence

from askdocs.cache.base import PassageKey
from askdocs.models import Passage


def normalise_question(question: str) -> str:
    """Case, spacing and trailing punctuation do not make a different question."""
    return re.sub(r"\s+", " ", question.strip().lower()).rstrip(" ?!.")


def scope_digest(
    collections: Sequence[str],
    access: str,
    settings: Mapping[str, object],
    principals: Sequence[str] | None = None,
) -> str:
    """Who may see an answer and what shaped it: the collections asked, the caller's access
    digest, the principals it acts for (None: every document), and every setting that changes
    an answer (models, prompt version, k, ...). Two requests share cached answers, exact or
    semantic, only within one scope digest: callers acting for other principals never do."""
    acting = None if principals is None else sorted(set(principals))
    material = json.dumps(
        [sorted(set(collections)), access, dict(settings)]
        + ([] if acting is None else [{"principals": acting}]),
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def cache_key(question: str, scope: str) -> str:
    """Key of an answer: the normalised question within a scope digest."""
    return hashlib.sha256(f"{scope}\0{normalise_question(question)}".encode()).hexdigest()


def passage_keys(passages: Iterable[Passage]) -> list[PassageKey]:
    """What a prompt was built from, comparable across requests: (document id, text hash)."""
    return sorted((p.chunk.document_id, p.chunk.text_sha256) for p in passages)
