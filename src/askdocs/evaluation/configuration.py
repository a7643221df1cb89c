"""The answering configuration as a record: the settings that shape an answer, the model files
they name with their sha256, and the prompt; what MLflow logs and what a registered model holds.
"""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from askdocs.generate import PROMPT_VERSION
from askdocs.settings import Settings

# The Settings sections that decide what an answer is; the others (server, cache, eval) decide
# how it is served.
ANSWERING_SECTIONS = ("embed", "chunk", "retrieve", "generate")
# Never written to a tracking store or a registered model.
SECRET_FIELDS = frozenset({"openai_api_key"})

# Speed knobs: the same answers come out whatever they are, so they stay out of the digest.
_SPEED_ONLY = frozenset({"embed.threads", "embed.batch_size", "generate.threads"})

_hashes: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) since model files are large."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def prompt_text() -> str:
    return (files("askdocs.generate") / "prompts" / "answer.txt").read_text(encoding="utf-8")


def model_files(settings: Settings) -> dict[str, Path]:
    """The local model files the settings use, by role; remote models have none."""
    found: dict[str, Path] = {}
    if settings.embed.backend == "onnx":
        from askdocs.embed.onnx import default_onnx_path, default_tokenizer_path

        found["embed_onnx"] = settings.embed.onnx_path or default_onnx_path()
        found["embed_tokenizer"] = settings.embed.tokenizer_path or default_tokenizer_path()
    if settings.generate.backend == "llamacpp":
        from askdocs.generate.llamacpp import default_gguf_path

        found["generate_gguf"] = settings.generate.gguf_path or default_gguf_path()
    return found


def answering_settings(settings: Settings) -> dict[str, dict[str, Any]]:
    """The answering sections as JSON values, without secrets."""
    out = {}
    for section in ANSWERING_SECTIONS:
        values = getattr(settings, section).model_dump(mode="json")
        out[section] = {k: v for k, v in values.items() if k not in SECRET_FIELDS}
    return out


def answering_params(settings: Settings) -> dict[str, str]:
    """Flat ``section.field`` parameters plus model and prompt hashes, for MLflow."""
    params = {
        f"{section}.{key}": json.dumps(value) if not isinstance(value, str) else value
        for section, values in answering_settings(settings).items()
        for key, value in values.items()
    }
    for role, path in model_files(settings).items():
        params[f"model.{role}"] = path.name
        params[f"model.{role}.sha256"] = file_sha256(path)
    params["prompt.version"] = PROMPT_VERSION
    params["prompt.sha256"] = hashlib.sha256(prompt_text().encode("utf-8")).hexdigest()
    params["config.sha256"] = config_digest(params)
    return params


def config_digest(params: dict[str, str]) -> str:
    """One hash for a whole configuration: two runs with the same one answer alike.

    Model files count by content (their sha256), not by where they lie.
    """
    kept = {
        k: v
        for k, v in params.items()
        if k != "config.sha256" and k not in _SPEED_ONLY and not k.endswith("_path")
    }
    body = json.dumps(kept, sort_keys=True)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]
