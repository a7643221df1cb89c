"""Hybrid retrieval: dense cosine and BM25 candidates, fused by weight or by reciprocal rank."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from askdocs.embed.base import Embedder
from askdocs.errors import EmbeddingModelMismatchError
from askdocs.index.store import PassageIndex
from askdocs.models import Passage
from askdocs.retrieve.rerank import Reranker, blend
from askdocs.settings import RetrieveSettings

# Words that carry no topic; dropping them keeps BM25 queries fast and focused.
_STOPWORDS = frozenset(
    """
    a about an and are as at be been but by can could did do does doing for from had has
    have how i if in into is it its me my of on or our should so than that the their them
    then there these they this to was we were what when where which while who whom why will
    with would you your
    """.split()
)
_WORD = re.compile(r"[A-Za-z0-9]+")


def query_terms(question: str) -> list[str]:
    """Lower-cased content words of a question, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(question.lower()):
        if word not in _STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


# Names a document either mentions or not. Code: snake_case, camelCase, dotted.names,
# .commands and --flags, call(). Then, in the rest of the question, product and proper names:
# words with two capitals (JDBC, MongoDB), letters with digits (RS232), or a capital that does
# not start a sentence (Kafka). Hyphenated words are left out: documents write them in too many
# ways ("read-only", "readonly") for their absence to mean anything.
# Every alternative starts where a word starts and never backtracks (possessive quantifiers),
# so a search is linear in the text: the plain form (\w*[A-Za-z]\w*_\w+ tried at every
# position) took seconds for one 2,000-letter word, and passages and questions are untrusted.
# A dotted name may follow digits or an underscore in the same word ("2fa.config" names
# "fa.config"): that prefix is matched, then left out (group "dotted").
_CODE_NAME = re.compile(
    r"(?<!\w)[^\WA-Za-z]*+[A-Za-z]\w*?_\w++"  # snake_case
    r"|\b[a-z]++[A-Z]\w*+"  # camelCase
    r"|(?<!\w)[^\WA-Za-z]*+(?P<dotted>[A-Za-z]\w++(?:\.[A-Za-z]\w*+)+)"  # dotted.names
    r"|(?<![\w.\-])(?:\.|--?)[a-z][\w\-]*+"  # .commands and --flags
    r"|(?<!\w)\w++\(\)"  # call()
)
_NAME_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")


def names_identifier(question: str) -> bool:
    """Whether the question writes a name as code, where exact keyword matches matter more."""
    return bool(_CODE_NAME.search(question))


def _code_names(text: str) -> tuple[list[str], str]:
    """The code names in ``text``, and the text with each replaced by a space."""
    names: list[str] = []
    pieces: list[str] = []
    done = 0
    for match in _CODE_NAME.finditer(text):
        start = match.start("dotted") if match.group("dotted") is not None else match.start()
        names.append(text[start : match.end()].removesuffix("()"))
        pieces.append(text[done:start])
        done = match.end()
    pieces.append(text[done:])
    return names, " ".join(pieces)


def named_terms(question: str) -> list[str]:
    """The code and proper names a question uses, in order, without repeats or call ().
    Proper names next to each other are one name ("Windows Phone", "Amazon S3"): documents
    that mention Windows and a phone somewhere do not mention Windows Phone.

    One pass over the text: each stretch between two words is looked at once."""
    names, rest = _code_names(question)
    run_end = -1  # where the last proper name ended, to join the next one to it
    scanned = 0
    last = ""  # the last character before the current word that is not a space
    for match in _NAME_WORD.finditer(rest):
        word = match.group()
        gap = rest[scanned : match.start()].rstrip()
        if gap:
            last = gap[-1]
        starts_sentence = not last or last in ".?!:"
        capitals = sum(c.isupper() for c in word)
        if (
            capitals >= 2
            or any(c.isdigit() for c in word)
            or (capitals and word[0].isupper() and not starts_sentence)
        ):
            if run_end >= 0 and match.start() == run_end + 1 and rest[run_end] == " ":
                names[-1] = f"{names[-1]} {word}"
            else:
                names.append(word)
            run_end = match.end()
        last = word[-1]
        scanned = match.end()
    return list(dict.fromkeys(names))


@dataclass(slots=True)
class Retrieval:
    """Passages best first, plus what abstention and the timings need."""

    passages: list[Passage]
    best_dense: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Code or proper names in the question that no passage it may see contains.
    unmentioned: list[str] = field(default_factory=list)

    def abstains(self, threshold: float) -> bool:
        """Whether the documents are taken not to contain the answer: nothing relevant enough
        was found, or the question names something no passage mentions."""
        return not self.passages or self.best_dense < threshold or bool(self.unmentioned)


class HybridRetriever:
    """Fuses dense and keyword candidates; the fusion mode is a setting chosen by benchmark."""

    def __init__(
        self,
        index: PassageIndex,
        embedder: Embedder,
        settings: RetrieveSettings,
        reranker: Reranker | None = None,
    ) -> None:
        self._index = index
        self._embedder = embedder
        self._settings = settings
        # Cross-encoders by the word pieces they read: reranking and the answerability gate
        # read different lengths. Given one (tests), it serves both.
        self._given = reranker
        self._cross_encoders: dict[int, Reranker] = {}
        self._reranker_lock = threading.Lock()

    def reranker(self) -> Reranker:
        """The cross-encoder, loaded on first use so a retriever that never reranks loads none."""
        return self._cross_encoder(self._settings.rerank_max_tokens)

    def _cross_encoder(self, max_tokens: int) -> Reranker:
        if self._given is not None:
            return self._given
        with self._reranker_lock:
            if max_tokens not in self._cross_encoders:
                from askdocs.retrieve.rerank import OnnxCrossEncoder

                s = self._settings
                self._cross_encoders[max_tokens] = OnnxCrossEncoder(
                    s.rerank_model_dir, max_tokens=max_tokens, threads=s.rerank_threads
                )
            return self._cross_encoders[max_tokens]

    def answerability(self, question: str, passages: Sequence[Passage]) -> float:
        """The cross-encoder's best logit over ``passages``: how well the best of them answers
        the question. Low means none of them is about what the question asks."""
        if not passages:
            return float("-inf")
        encoder = self._cross_encoder(self._settings.answerability_max_tokens)
        return max(encoder.score(question, [p.chunk.text for p in passages]))

    def retrieve(
        self,
        question: str,
        *,
        collections: Sequence[str] | None = None,
        k: int | None = None,
        fusion: str | None = None,
        rerank: bool | None = None,
        principals: Sequence[str] | None = None,
    ) -> Retrieval:
        """Passages of ``collections`` (None: all) that ``principals`` may see (None: every
        document; see access/principals.py), best first."""
        k = k or self._settings.k
        fusion = fusion or self._settings.fusion
        rerank = self._settings.rerank if rerank is None else rerank
        n = max(self._settings.candidates, k)
        synced_at = time.perf_counter()
        self._index.sync()
        sync_ms = (time.perf_counter() - synced_at) * 1000
        model = self._index.embed_model
        if model and model != self._embedder.model_id:
            raise EmbeddingModelMismatchError(
                f"the index was built with {model!r} but the configured embedder is "
                f"{self._embedder.model_id!r}: set ASKDOCS_EMBED__* back, or use another data dir"
            )
        started = time.perf_counter()
        query = self._embedder.embed([question])[0]
        embedded = time.perf_counter()
        # The length prior (below) also picks the dense candidates, so that short documents
        # are not crowded out of them by long ones before it is applied.
        prior = self._settings.length_prior if fusion in ("dense", "weighted") else 0.0
        dense = (
            self._index.dense(query, collections, n, length_prior=prior, principals=principals)
            if fusion != "keyword"
            else []
        )
        keyword = (
            self._index.keyword(query_terms(question), collections, n, principals=principals)
            if fusion != "dense"
            else []
        )
        scores = self._fuse(question, query, dense, keyword, fusion)
        # Document evidence, in cosine units: it suits the score-valued fusions, not RRF.
        if scores and fusion in ("dense", "weighted"):
            scores = self._document_evidence(query, scores)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        head = self._settings.rerank_candidates if rerank else 0
        ranked = ranked[: max(k, head)]
        chunks = self._index.chunks([rowid for rowid, _ in ranked])
        passages = [Passage(chunks[r], s) for r, s in ranked if r in chunks]
        fused_at = time.perf_counter()
        if head and passages:
            passages = self._rerank(question, passages, head)
        reranked_at = time.perf_counter()
        passages = passages[:k]
        # Abstention reads the dense cosine alone, so reranking never changes whether we answer.
        best = max((s for _, s in dense), default=0.0)
        if fusion == "keyword" and ranked:
            best = max(self._index.dense_scores(query, [r for r, _ in ranked[:k]]), default=0.0)
        unmentioned = (
            [
                n
                for n in named_terms(question)
                if not self._index.mentions(n, collections, principals=principals)
            ]
            if self._settings.abstain_unmentioned
            else []
        )
        done = time.perf_counter()
        timings = {
            "embed": (embedded - started) * 1000,
            "retrieve": (done - embedded - (reranked_at - fused_at)) * 1000 + sync_ms,
        }
        if head:
            timings["rerank"] = (reranked_at - fused_at) * 1000
        return Retrieval(passages, best, timings, unmentioned)

    def _document_evidence(
        self, query: npt.NDArray[np.float32], scores: dict[int, float]
    ) -> dict[int, float]:
        """Each passage gains ``document_weight`` x the question's cosine with its whole
        document, and loses ``length_prior`` x log(1 + passages in its document)."""
        s = self._settings
        if not (s.document_weight or s.length_prior):
            return scores
        rowids = list(scores)
        adjustments = self._index.document_adjustments(
            query, rowids, document_weight=s.document_weight, length_prior=s.length_prior
        )
        return {r: scores[r] + a for r, a in zip(rowids, adjustments, strict=True)}

    def _rerank(self, question: str, passages: list[Passage], head: int) -> list[Passage]:
        """Rescore the best `head` passages with the cross-encoder; the rest keep their order."""
        top, rest = passages[:head], passages[head:]
        logits = self.reranker().score(question, [p.chunk.text for p in top])
        s = self._settings
        blended = blend([p.score for p in top], logits, s.rerank_weight, s.rerank_temperature)
        order = sorted(range(len(top)), key=lambda i: (-blended[i], i))
        return [Passage(top[i].chunk, blended[i]) for i in order] + rest

    def _fuse(
        self,
        question: str,
        query: object,
        dense: list[tuple[int, float]],
        keyword: list[tuple[int, float]],
        fusion: str,
    ) -> dict[int, float]:
        if fusion == "dense":
            return dict(dense)
        if fusion == "keyword":
            return dict(keyword)
        if fusion == "rrf":
            fused: dict[int, float] = {}
            for ranking in (dense, keyword):
                for rank, (rowid, _) in enumerate(ranking):
                    fused[rowid] = fused.get(rowid, 0.0) + 1.0 / (self._settings.rrf_k + rank + 1)
            return fused
        # Weighted: exact cosine for every candidate (vectors are at hand), BM25 scaled by the
        # best BM25 score of this query so its range does not depend on the corpus.
        weight = self._keyword_weight(question)
        rowids = list(dict.fromkeys([r for r, _ in dense] + [r for r, _ in keyword]))
        cosine = dict(dense)
        missing = [r for r in rowids if r not in cosine]
        cosine.update(zip(missing, self._index.dense_scores(query, missing), strict=True))  # type: ignore[arg-type]
        top = max((s for _, s in keyword), default=0.0)
        bm25 = {r: s / top for r, s in keyword} if top > 0 else {}
        return {r: (1 - weight) * cosine[r] + weight * bm25.get(r, 0.0) for r in rowids}

    def _keyword_weight(self, question: str) -> float:
        if names_identifier(question):
            return self._settings.identifier_keyword_weight
        return self._settings.keyword_weight
