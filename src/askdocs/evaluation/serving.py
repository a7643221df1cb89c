"""The answering configuration as an MLflow pyfunc model: logged with each evaluation run,
registered by `askdocs eval --register`, loaded by `mlflow.pyfunc.load_model`, served by
`mlflow models serve`, and turned back into Settings for `askdocs serve --model`.

The model holds the configuration, not the documents: it answers against a data dir given at
load time (``model_config={"data_dir": ...}``), per request (the ``data_dir`` param), or by the
usual settings (``ASKDOCS_DATA_DIR``). Bundled model files are referenced by sha256 and checked
on load; custom embedder files travel inside the model as artifacts.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel, PythonModelContext

from askdocs.container import Container
from askdocs.errors import ConfigurationError
from askdocs.evaluation.configuration import (
    answering_params,
    answering_settings,
    file_sha256,
    model_files,
)
from askdocs.services.answering import AskOptions
from askdocs.settings import (
    ChunkSettings,
    EmbedSettings,
    GenerateSettings,
    RetrieveSettings,
    Settings,
)

if TYPE_CHECKING:
    from mlflow.models.model import ModelInfo

CONFIG_ARTIFACT = "answering"
CONFIG_FILE = "answering.json"
# Custom embedder files copied into the model, by the EmbedSettings field they fill.
_EMBED_ARTIFACTS = {"embed_onnx": "onnx_path", "embed_tokenizer": "tokenizer_path"}
_SECTIONS: dict[str, type[Any]] = {
    "embed": EmbedSettings,
    "chunk": ChunkSettings,
    "retrieve": RetrieveSettings,
    "generate": GenerateSettings,
}
FORMAT = 1


class AskdocsModel(PythonModel):
    """Answers a table of questions (``question``, optional ``collection``) with the registered
    configuration; one Container per data dir, built on first use."""

    def load_context(self, context: PythonModelContext) -> None:
        artifacts = dict(context.artifacts)
        self._config = json.loads(Path(artifacts[CONFIG_ARTIFACT]).read_text(encoding="utf-8"))
        self._artifacts = artifacts
        self._default_data_dir = str((context.model_config or {}).get("data_dir") or "")
        self._containers: dict[str, Container] = {}
        self._lock = threading.Lock()

    def _container(self, data_dir: str) -> Container:
        with self._lock:
            if data_dir not in self._containers:
                # Loading a model is an entry point: the environment's settings are read here.
                base = Settings(data_dir=Path(data_dir)) if data_dir else Settings()
                settings = settings_from_config(self._config, base, self._artifacts)
                self._containers[data_dir] = Container(settings)
            return self._containers[data_dir]

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        params = params or {}
        container = self._container(str(params.get("data_dir") or self._default_data_dir))
        k = int(params.get("k") or 0) or None
        generate = bool(params.get("generate", True))
        rows = []
        for record in model_input.to_dict(orient="records"):
            collection = str(record.get("collection") or "")
            options = AskOptions(
                collections=(collection,) if collection else (), k=k, generate=generate
            )
            answer = container.answering.answer(str(record["question"]), options)
            cited = {c.n for c in answer.citations}
            sources = [
                {
                    "n": n,
                    "source": p.chunk.source,
                    "page": p.chunk.page,
                    "heading": " > ".join(p.chunk.heading) or None,
                    "score": round(p.score, 4),
                    "cited": n in cited,
                }
                for n, p in enumerate(answer.passages, start=1)
            ]
            rows.append(
                {
                    "question": answer.question,
                    "answer": answer.answer,
                    "abstained": answer.abstained,
                    "cache": answer.cache,
                    "sources": json.dumps(sources, ensure_ascii=False),
                }
            )
        return pd.DataFrame(rows, columns=["question", "answer", "abstained", "cache", "sources"])


def answering_config(settings: Settings) -> dict[str, Any]:
    """What answering.json holds: the answering settings and their parameters with hashes."""
    sections = answering_settings(settings)
    custom = custom_embed_files(settings)
    for role in custom:
        # The file travels as an artifact; its path on this machine means nothing elsewhere.
        sections["embed"][_EMBED_ARTIFACTS[role]] = None
    return {
        "format": FORMAT,
        "settings": sections,
        "params": answering_params(settings),
        "embed_artifacts": sorted(custom),
    }


def custom_embed_files(settings: Settings) -> dict[str, Path]:
    """Embedder files that are not the bundled ones (a fine-tuned model, say)."""
    if settings.embed.backend != "onnx":
        return {}
    paths = {
        "embed_onnx": settings.embed.onnx_path,
        "embed_tokenizer": settings.embed.tokenizer_path,
    }
    return {role: path for role, path in paths.items() if path is not None}


def settings_from_config(
    config: Mapping[str, Any], base: Settings, artifacts: Mapping[str, str]
) -> Settings:
    """``base`` (data dir, server, cache, eval, secrets) with the registered answering sections.

    Model files the configuration names by hash are checked, so a registered configuration
    never silently runs with different weights.
    """
    if config.get("format") != FORMAT:
        raise ConfigurationError(
            f"the registered model has format {config.get('format')!r}; this askdocs reads "
            f"format {FORMAT}: register it again with this version"
        )
    sections: dict[str, dict[str, Any]] = {
        name: dict(values) for name, values in config["settings"].items() if name in _SECTIONS
    }
    for role in config.get("embed_artifacts", []):
        sections["embed"][_EMBED_ARTIFACTS[role]] = artifacts[role]
    # Secrets are never registered: the serving side's own key is used.
    sections["generate"]["openai_api_key"] = base.generate.openai_api_key
    update = {name: _SECTIONS[name].model_validate(values) for name, values in sections.items()}
    settings = base.model_copy(update=update)
    _check_model_files(settings, config.get("params", {}))
    return settings


def _check_model_files(settings: Settings, params: Mapping[str, str]) -> None:
    for role, path in model_files(settings).items():
        expected = params.get(f"model.{role}.sha256")
        if expected is None:
            continue
        if not path.is_file():
            raise ConfigurationError(
                f"the registered configuration needs the model file {path.name} "
                f"(sha256 {expected[:12]}…), which is not at {path}"
            )
        actual = file_sha256(path)
        if actual != expected:
            raise ConfigurationError(
                f"the model file {path} (sha256 {actual[:12]}…) is not the one the "
                f"configuration was registered with (sha256 {expected[:12]}…): install the "
                "same model package versions, or register this configuration again"
            )


def signature() -> Any:
    """Input: a question per row (and an optional collection); params: data dir, k, generate."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "question"), ColSpec("string", "collection", False)]),
        outputs=Schema(
            [
                ColSpec("string", "question"),
                ColSpec("string", "answer"),
                ColSpec("boolean", "abstained"),
                ColSpec("string", "cache"),
                ColSpec("string", "sources"),
            ]
        ),
        params=ParamSchema(
            [
                ParamSpec("data_dir", "string", ""),
                ParamSpec("k", "long", 0),
                ParamSpec("generate", "boolean", True),
            ]
        ),
    )


def log_answering_model(settings: Settings, name: str = "model") -> ModelInfo:
    """Log the configuration as a pyfunc model in the active MLflow run (models from code)."""
    import mlflow

    from askdocs.evaluation import pyfunc_entry

    folder = Path(tempfile.mkdtemp(prefix="askdocs-model-"))
    try:
        config_path = folder / CONFIG_FILE
        config_path.write_text(json.dumps(answering_config(settings), indent=2), "utf-8")
        artifacts = {CONFIG_ARTIFACT: str(config_path)}
        artifacts |= {role: str(p) for role, p in custom_embed_files(settings).items()}
        with warnings.catch_warnings():
            # An input example would make MLflow run the model (load models, answer) while
            # logging it; the explicit signature does its job.
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            info: ModelInfo = mlflow.pyfunc.log_model(
                name=name,
                python_model=Path(pyfunc_entry.__file__),
                artifacts=artifacts,
                signature=signature(),
                # Declared so that load_model(uri, model_config={"data_dir": ...}) may set it.
                model_config={"data_dir": ""},
                # Explicit, so MLflow does not load the model in a subprocess to infer them.
                pip_requirements=[f"mlflow-skinny=={mlflow.__version__}", "askdocs"],
            )
        return info
    finally:
        shutil.rmtree(folder, ignore_errors=True)
