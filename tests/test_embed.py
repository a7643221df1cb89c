"""Embedders: the int8 ONNX default agrees with the fp32 reference; both backends behave alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from askdocs.embed import build_embedder
from askdocs.embed.onnx import OnnxEmbedder, default_tokenizer_path
from askdocs.errors import ModelNotAvailableError
from askdocs.settings import EmbedSettings

SENTENCES = [
    "How do I install Python on Windows?",
    "The default page size of an SQLite database is 4096 bytes.",
    "PRAGMA journal_mode=WAL switches the database to write-ahead logging.",
    "Guido van Rossum created Python in the early 1990s at CWI in the Netherlands.",
    "A tuple is an immutable sequence; a list can be changed in place.",
    "The busy timeout makes SQLite wait instead of failing with SQLITE_BUSY.",
    "Bake the bread at 220 degrees for thirty minutes.",
    "Use git rebase -i to squash several commits into one.",
]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def onnx() -> OnnxEmbedder:
    return OnnxEmbedder()


def test_vectors_are_normalised_and_semantic(onnx: OnnxEmbedder) -> None:
    vectors = onnx.embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    q = onnx.embed(["What is the default SQLite page size?"])[0]
    assert int(np.argmax(vectors @ q)) == 1


def test_batching_does_not_change_vectors(onnx: OnnxEmbedder) -> None:
    together = onnx.embed(SENTENCES)
    alone = np.vstack([onnx.embed([s]) for s in SENTENCES])
    assert np.allclose(together, alone, atol=1e-4)


def test_long_text_is_truncated_at_the_model_limit_not_silently_by_the_tokenizer(
    onnx: OnnxEmbedder,
) -> None:
    # The shipped tokenizer.json pads/truncates to 128; askdocs must read up to 256.
    assert onnx.max_tokens == 254
    head = " ".join(["alpha"] * 120)
    a = onnx.embed([head + " " + " ".join(["omega"] * 100)])[0]
    b = onnx.embed([head])[0]
    assert float(a @ b) < 0.99  # the tail beyond 128 tokens changed the vector


def test_int8_agrees_with_fp32_reference(
    onnx: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from askdocs.embed.sentence_transformers import SentenceTransformerEmbedder

    reference = SentenceTransformerEmbedder(str(default_tokenizer_path().parent))
    fp32 = reference.embed(SENTENCES)
    int8 = onnx.embed(SENTENCES)
    cosines = np.sum(fp32 * int8, axis=1)
    assert cosines.min() >= 0.999, cosines
    # Same tokenizer, so the chunker sizes chunks the same way with either backend.
    assert reference.token_spans(SENTENCES[2]) == onnx.token_spans(SENTENCES[2])
    assert reference.max_tokens == onnx.max_tokens
    assert reference.model_id != onnx.model_id


def test_settings_choose_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    st = build_embedder(
        EmbedSettings(
            backend="sentence-transformers", st_model=str(default_tokenizer_path().parent)
        )
    )
    assert st.model_id.startswith("st:")
    assert isinstance(build_embedder(EmbedSettings()), OnnxEmbedder)


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="does not exist"):
        OnnxEmbedder(tmp_path / "missing.onnx")
