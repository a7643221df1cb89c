"""Builds the generator the settings name; backends import lazily."""

from __future__ import annotations

from askdocs.generate.base import Generator
from askdocs.settings import GenerateSettings


def build_generator(settings: GenerateSettings) -> Generator:
    if settings.backend == "openai":
        from askdocs.generate.openai_compat import OpenAICompatGenerator

        return OpenAICompatGenerator(
            settings.openai_base_url,
            settings.openai_model,
            api_key=settings.openai_api_key,
            context_tokens=settings.context_tokens,
        )
    from askdocs.generate.llamacpp import LlamaCppGenerator, default_gguf_path

    return LlamaCppGenerator(
        settings.gguf_path or default_gguf_path(),
        context_tokens=settings.context_tokens,
        threads=settings.threads or None,
        repeat_penalty=settings.repeat_penalty,
    )
