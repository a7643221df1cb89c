"""Answer prompts: numbered passages fitted into the model's context, and [n] citation parsing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from pathlib import PurePath

from askdocs.errors import GenerationError
from askdocs.generate.base import Generator, Message
from askdocs.models import Passage

# Part of every answer-cache key: bump it whenever prompts/answer.txt or the rendering changes.
PROMPT_VERSION = "answer-v3"

# Chat templates wrap each message in role markers (ChatML: "<|im_start|>user\n...<|im_end|>\n")
# and may add a BOS token; the rendered estimate below covers ChatML, this covers the rest.
_TEMPLATE_MARGIN_TOKENS = 8
# A truncated passage shorter than this is more confusing than useful, so it is left out.
_MIN_TRUNCATED_TOKENS = 24
_ELLIPSIS = " …"

_SECTION = re.compile(r"^--- (system|user|assistant)\s*$", re.MULTILINE)

# Turn markers of the common chat templates (ChatML's <|im_start|>, Llama 3's <|eot_id|>,
# DeepSeek's <｜...｜>, Mistral's [INST], Gemma's <start_of_turn>, <s>): a document or question
# that spells one could forge a system or assistant turn, since the rendered template is
# tokenized with control tokens on. The generator's own list (``special_tokens``) adds the rest.
_TURN_MARKERS = re.compile(
    r"<\|[^|<>\s]{1,40}\|>|<｜[^｜<>]{1,40}｜>|\[/?INST\]|</?s>|<(?:start|end)_of_turn>"
)
_BREAK = "\u200b"  # zero-width space: the marker stays readable and stops being a token


def defang(text: str, specials: frozenset[str] = frozenset()) -> str:
    """``text`` with every chat-template marker and control-token spelling broken apart."""
    text = _TURN_MARKERS.sub(lambda m: m[0][0] + _BREAK + m[0][1:], text)
    for piece in specials:
        if piece in text:
            text = text.replace(piece, piece[0] + _BREAK + piece[1:])
    return text


@cache
def _template() -> tuple[tuple[str, str], ...]:
    """The messages of prompts/answer.txt: ``--- role`` lines, each followed by its content."""
    text = (files("askdocs.generate") / "prompts" / "answer.txt").read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    return tuple((role, body.strip()) for role, body in zip(parts[1::2], parts[2::2], strict=True))


def location_parts(passage: Passage) -> list[str]:
    """Where a passage comes from: its file name (not the whole path, which a small model copies
    into its answer), then page and heading path when known."""
    chunk = passage.chunk
    where = [PurePath(chunk.source).name or chunk.source]
    if chunk.page is not None:
        where.append(f"page {chunk.page}")
    if chunk.heading:
        where.append(" > ".join(chunk.heading))
    return where


def render_passage(
    n: int, passage: Passage, text: str | None = None, specials: frozenset[str] = frozenset()
) -> str:
    """Render ``[n] (source, page or heading) text`` on one line, markers defanged."""
    body = " ".join((passage.chunk.text if text is None else text).split())
    return defang(f"[{n}] ({', '.join(location_parts(passage))}) {body}", specials)


def _messages(question: str, rendered: Sequence[str]) -> list[Message]:
    values = {"passages": "\n\n".join(rendered), "question": question.strip()}
    return [Message(role, body.format(**values)) for role, body in _template()]


def _prompt_tokens(messages: Sequence[Message], generator: Generator) -> int:
    chat = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages)
    return generator.count_tokens(chat + "<|im_start|>assistant\n") + _TEMPLATE_MARGIN_TOKENS


def build_messages(
    question: str,
    passages: Sequence[Passage],
    generator: Generator,
    *,
    max_answer_tokens: int,
) -> tuple[list[Message], list[Passage]]:
    """Build the chat messages for ``question`` over ``passages`` (best first).

    The prompt plus ``max_answer_tokens`` never exceeds ``generator.context_tokens``: the
    lowest-ranked passages are dropped first, then the last kept one is cut at a sentence or
    word boundary. Returns the messages and the passages actually shown, where the passage
    numbered ``[n]`` is ``used[n - 1]``.
    """
    # Passages, their names and the question are untrusted text: none may spell a marker.
    specials: frozenset[str] = getattr(generator, "special_tokens", frozenset())
    question = defang(question, specials)
    budget = generator.context_tokens - max_answer_tokens
    base = _prompt_tokens(_messages(question, []), generator)
    if base > budget:
        raise GenerationError(
            f"The question leaves no room in {generator.model_id}'s context window "
            f"({base} prompt tokens + {max_answer_tokens} answer tokens > "
            f"{generator.context_tokens}); shorten the question or lower max_answer_tokens."
        )

    rendered: list[str] = []
    used: list[Passage] = []
    spent = base
    for passage in passages:
        n = len(used) + 1
        line = render_passage(n, passage, specials=specials)
        cost = generator.count_tokens(line + "\n\n")
        if spent + cost <= budget:
            rendered.append(line)
            used.append(passage)
            spent += cost
            continue
        cut = _truncate(n, passage, budget - spent, generator, specials)
        if cut is not None:
            rendered.append(cut)
            used.append(passage)
        break

    # Token counts of parts need not add up to the count of the whole: check the real prompt.
    while True:
        messages = _messages(question, rendered)
        total = _prompt_tokens(messages, generator)
        if total <= budget:
            return messages, used
        over = total - budget
        last = rendered.pop()
        passage = used.pop()
        room = generator.count_tokens(last) - over
        cut = _truncate(len(used) + 1, passage, room, generator, specials, within=last)
        if cut is not None and cut != last:
            rendered.append(cut)
            used.append(passage)


def _truncate(
    n: int,
    passage: Passage,
    room: int,
    generator: Generator,
    specials: frozenset[str],
    *,
    within: str | None = None,
) -> str | None:
    """The longest ``[n]`` line cut at a sentence (else word) boundary that fits ``room``."""
    if room < _MIN_TRUNCATED_TOKENS:
        return None
    full = render_passage(n, passage, specials=specials)
    prefix_len = len(render_passage(n, passage, "", specials))
    text = full[prefix_len:]
    if within is not None:
        text = within[prefix_len:].removesuffix(_ELLIPSIS)

    def fits(length: int) -> bool:
        line = full[:prefix_len] + text[:length] + _ELLIPSIS
        return generator.count_tokens(line + "\n\n") <= room

    lo, hi = 0, len(text)
    if within is not None:
        hi = max(0, len(text) - 1)
    while lo < hi:  # the longest prefix of text that fits
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    cut = _cut_at_boundary(text[:lo])
    if not cut or generator.count_tokens(cut) < _MIN_TRUNCATED_TOKENS // 2:
        return None
    return full[:prefix_len] + cut + _ELLIPSIS


_SENTENCE_END = re.compile(r"[.!?。！？][\"')\]]*\s")


def _cut_at_boundary(text: str) -> str:
    """Cut at the last sentence end if that keeps half the text, else at the last space."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text + " ")]
    if ends and ends[-1] >= len(text) // 2:
        return text[: ends[-1]].rstrip()
    space = text.rfind(" ")
    return text[:space].rstrip() if space > 0 else text


# [1] [1, 2] [1][2] [1-3] [Passage 2] 【1】 ［1］ [^1]: brackets around numbers, commas, ranges.
_NUMBER_LIST = r"\d+(?:\s*(?:[,;，、]|and|[-–])\s*\d+)*"
_MARKER = re.compile(
    r"(?P<space>[ \t]*)[\[【［〔]\s*\^?(?:(?:passages?|sources?|docs?|documents?)\s*)?"
    rf"(?P<numbers>{_NUMBER_LIST})\s*[\]】］〕]",
    re.IGNORECASE,
)
_RANGE = re.compile(r"(\d+)\s*[-–]\s*(\d+)")


def _marker_numbers(numbers: str, n_passages: int) -> list[int]:
    found: list[int] = []
    for part in re.split(r"\s*(?:[,;，、]|and)\s*", numbers):
        span = _RANGE.fullmatch(part)
        if span:
            first, last = int(span[1]), int(span[2])
            # A range can only name passages that exist; clamp so "[1-99999]" costs nothing.
            values = range(max(first, 1), min(last, n_passages) + 1)
        else:
            values = range(int(part), int(part) + 1) if part.isdigit() else range(0)
        found.extend(v for v in values if 1 <= v <= n_passages and v not in found)
    return found


def extract_citations(answer: str, n_passages: int) -> list[int]:
    """Passage numbers cited in ``answer``, unique, in order of first appearance, within 1..n."""
    cited: list[int] = []
    for match in _MARKER.finditer(answer):
        for number in _marker_numbers(match["numbers"], n_passages):
            if number not in cited:
                cited.append(number)
    return cited


def clean_answer(answer: str, n_passages: int) -> str:
    """Rewrite citation markers as ``[n]``/``[n, m]``, dropping numbers outside 1..n."""

    def replace(match: re.Match[str]) -> str:
        numbers = _marker_numbers(match["numbers"], n_passages)
        if not numbers:
            return ""
        return match["space"] + "[" + ", ".join(str(n) for n in numbers) + "]"

    return _MARKER.sub(replace, answer).strip()
