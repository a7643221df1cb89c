"""Semantic answer cache: the nearest cached questions, and guards, because two questions
close in embedding space may still ask different things: an embedding model barely sees the
words that make the difference.

Sentence embeddings put "does X support Y" and "does X not support Y" at cosine ~0.98, and
"convert a string to an integer" next to "convert an integer to a string" at 0.996 (see
benchmarks/datasets/semantic-pairs.jsonl). So before a cached answer is reused for a
paraphrase, these checks must all agree: same negations, same numbers, same named entities and
identifiers, no antonym swapped in, no roles swapped around "to". Each rejects on the safe side:
a lost hit costs one generation, a false hit gives a wrong answer.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from askdocs.embed.base import Vectors

_NEGATIONS = frozenset(
    """
    not no never without cannot none nobody nothing nowhere neither nor unless except
    unchanged unused unknown unsupported unavailable unable unset unlike disallowed
    """.split()
)
_NUMBER_WORDS = {
    word: str(n)
    for n, word in enumerate(
        """zero _ two three four five six seven eight nine ten eleven twelve thirteen fourteen
        fifteen sixteen seventeen eighteen nineteen twenty""".split()
    )
    if word != "_"
} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
    "thousand": "1000",
    "million": "1e6",
    "billion": "1e9",
    "dozen": "12",
    "twice": "2",
    "double": "2",
    "triple": "3",
    "half": "0.5",
    "second": "#2",
    "third": "#3",
    "fourth": "#4",
    "fifth": "#5",
    "tenth": "#10",
}
# Words whose opposite keeps the rest of a question intact, so the two land close together.
_ANTONYMS: tuple[tuple[frozenset[str], frozenset[str]], ...] = tuple(
    (frozenset(left.split()), frozenset(right.split()))
    for left, right in (
        ("enable enabled enables enabling", "disable disabled disables disabling"),
        ("increase increased increases increasing raise", "decrease decreased decreases lower"),
        ("ascending ascend", "descending descend"),
        ("before", "after"),
        ("include included includes including", "exclude excluded excludes excluding"),
        ("encode encoded encodes encoding", "decode decoded decodes decoding"),
        ("encrypt encrypted encrypting", "decrypt decrypted decrypting"),
        ("compress compressed compressing", "decompress decompressed decompressing"),
        ("serialize serialise serializing serialising", "deserialize deserialise"),
        ("lock locked locking", "unlock unlocked unlocking"),
        ("uppercase upper", "lowercase lower"),
        ("maximum max largest biggest highest", "minimum min smallest lowest"),
        ("first", "last"),
        ("add added adds adding", "remove removed removes removing"),
        ("start started starts starting", "stop stopped stops stopping"),
        ("read reads reading", "write writes writing written"),
        ("import imported importing", "export exported exporting"),
        ("open opened opening", "close closed closing"),
        ("insert inserted inserting", "delete deleted deleting"),
        ("create created creating", "drop dropped dropping"),
        ("show shown showing", "hide hidden hiding"),
        ("allow allowed allows", "deny denied forbid forbidden"),
        ("more", "less fewer"),
        ("backup back", "restore restored restoring"),
        ("succeed succeeds success successful", "fail fails failure failed"),
        ("synchronous sync", "asynchronous async"),
    )
)
_WORD = re.compile(r"[A-Za-z0-9_]+(?:[.\-][A-Za-z0-9_]+)*")
_WORDS_ONLY = re.compile(r"[a-z]+")
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_QUOTED = re.compile(r"`([^`]+)`|\"([^\"]+)\"|(?<!\w)'([^']+)'(?!\w)")
_FLAG = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")
_BLOCK = 1024  # rows per product in a neighbour search
_FILLERS = frozenset(
    "a an the my your this that these those of in on at for with do does i".split()
)


def conflict(a: str, b: str) -> str | None:
    """Why ``a`` and ``b`` must not share an answer, or None when no guard objects."""
    for name, check in (
        ("negation", _negations),
        ("number", _numbers),
        ("quoted", _quoted),
        ("flag", _flags),
    ):
        if check(a) != check(b):
            return name
    if not _entities_shared(a, b):
        return "entity"
    if _antonym_swapped(_words(a), _words(b)):
        return "antonym"
    if _roles_swapped(a, b):
        return "direction"
    return None


def _plain(text: str) -> str:
    """Lower case, with contractions and possessives spelt out, so tokens compare."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"\bcan't\b|\bcannot\b", "can not", text)
    text = re.sub(r"\bwon't\b", "will not", text)
    text = re.sub(r"n't\b", " not", text)
    return re.sub(r"'s\b", "", text)


def _words(text: str) -> list[str]:
    return _WORD.findall(_plain(text))


def _negations(text: str) -> Counter[str]:
    # Every marker counts as "not": "cannot" and "can not" are one negation, "never" too.
    return Counter("not" for w in _words(text) if w in _NEGATIONS)


def _numbers(text: str) -> Counter[str]:
    found = Counter(_DIGITS.findall(text))
    found.update(_NUMBER_WORDS[w] for w in _WORDS_ONLY.findall(text.lower()) if w in _NUMBER_WORDS)
    return found


def _quoted(text: str) -> set[str]:
    return {next(g for g in m.groups() if g).strip().lower() for m in _QUOTED.finditer(text)}


def _flags(text: str) -> set[str]:
    return {f.lower() for f in _FLAG.findall(text)}


def _entities(text: str) -> set[str]:
    """Names and identifiers: capitalised words past the first, ALLCAPS, CamelCase,
    snake_case, dotted.names; lower-cased so that "SQLite" and "sqlite" agree."""
    found: set[str] = set()
    tokens = _WORD.findall(re.sub(r"'s\b|’s\b", "", text))
    for i, token in enumerate(tokens):
        code_like = "_" in token or "." in token or any(c.isupper() for c in token[1:])
        if code_like or (i > 0 and token[:1].isupper() and token != "I"):
            found.add(token.lower())
    return found


def _entities_shared(a: str, b: str) -> bool:
    """Each question's entities appear in the other, in any case and any position."""
    words_a, words_b = _vocabulary(a), _vocabulary(b)
    return _entities(a) <= words_b and _entities(b) <= words_a


def _vocabulary(text: str) -> set[str]:
    """Every token, and the parts of dotted or hyphenated ones."""
    words = set(_words(text))
    for word in list(words):
        words.update(p for p in re.split(r"[.\-]", word) if p)
    return words


def _antonym_swapped(a: list[str], b: list[str]) -> bool:
    set_a, set_b = set(a), set(b)
    for left, right in _ANTONYMS:
        a_left, a_right = bool(set_a & left), bool(set_a & right)
        b_left, b_right = bool(set_b & left), bool(set_b & right)
        if (a_left, a_right) != (b_left, b_right) and (a_left or a_right) and (b_left or b_right):
            return True
    return False


def _roles_swapped(a: str, b: str) -> bool:
    """ "string to an integer" vs "integer to a string": same words, opposite direction."""
    pairs_a, pairs_b = _directed(a), _directed(b)
    return any(
        before_a & after_b and after_a & before_b
        for before_a, after_a in pairs_a
        for before_b, after_b in pairs_b
    )


def _directed(text: str) -> list[tuple[set[str], set[str]]]:
    """For each "to", "into" or "from": two content words before it and two after it."""
    words = [w for w in _words(text) if w not in _FILLERS]
    return [
        (set(words[max(0, i - 2) : i]), set(words[i + 1 : i + 3]))
        for i, word in enumerate(words)
        if word in ("to", "into", "from")
    ]


class ScopeVectors:
    """This process's copy of each scope's question vectors, as one matrix: a neighbour search
    is then one product (~1 ms for thousands of questions) instead of reading every vector
    from the backend (~40 ms in SQLite, ~100 ms from Redis for 5,000). The backend keeps a
    version token per scope, changed by every write there; a copy is read again only when its
    token moved. At most ``keep`` scopes are held, least recently used dropped."""

    def __init__(self, keep: int = 32) -> None:
        self._keep = keep
        self._held: OrderedDict[str, tuple[object, list[str], Vectors]] = OrderedDict()
        self._lock = threading.Lock()

    def search(
        self,
        scope: str,
        version: object,
        load: Callable[[], Sequence[tuple[str, bytes]]],
        vector: Vectors,
        threshold: float,
        limit: int,
    ) -> list[tuple[str, float]]:
        """Keys whose vectors have cosine >= ``threshold`` with ``vector``, best first. Read
        ``version`` before calling: rows loaded after it are at least as new."""
        query = np.asarray(vector, dtype=np.float32).ravel()
        with self._lock:
            held = self._held.get(scope)
            if held is not None:
                self._held.move_to_end(scope)
        if held is None or held[0] != version:
            rows = [(k, v) for k, v in load() if len(v) == query.nbytes]
            matrix = np.frombuffer(b"".join(v for _, v in rows), dtype=np.float32)
            held = (version, [k for k, _ in rows], matrix.reshape(len(rows), query.size))
            with self._lock:
                self._held[scope] = held
                self._held.move_to_end(scope)
                while len(self._held) > self._keep:
                    self._held.popitem(last=False)
        _, keys, matrix = held
        if not keys or matrix.shape[1] != query.size:
            return []
        # Vectors are unit length (the Embedder contract): the dot product is the cosine. In
        # blocks: OpenBLAS splits a larger product over threads, and on a busy machine they
        # wait on each other for whole time slices (12 ms instead of 0.2 for 5,000 rows here).
        scores = np.concatenate(
            [matrix[i : i + _BLOCK] @ query for i in range(0, len(keys), _BLOCK)]
        )
        order = np.argsort(-scores)[:limit]
        return [(keys[i], float(scores[i])) for i in order if scores[i] >= threshold]

    def forget(self) -> None:
        with self._lock:
            self._held.clear()
