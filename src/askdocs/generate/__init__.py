"""Generation: the Generator protocol, its llama.cpp and OpenAI-compatible backends, prompts."""

from askdocs.generate.base import Generator, Message
from askdocs.generate.llamacpp import LlamaCppGenerator, default_gguf_path
from askdocs.generate.openai_compat import OpenAICompatGenerator
from askdocs.generate.prompt import (
    PROMPT_VERSION,
    build_messages,
    clean_answer,
    extract_citations,
    render_passage,
)

__all__ = [
    "PROMPT_VERSION",
    "Generator",
    "LlamaCppGenerator",
    "Message",
    "OpenAICompatGenerator",
    "build_messages",
    "clean_answer",
    "default_gguf_path",
    "extract_citations",
    "render_passage",
]
