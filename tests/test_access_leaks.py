"""Randomized: uploads, replaces, deletes, access-list changes and questions from several
principals through the HTTP API, on both answer-cache backends (SQLite and a real Redis). Each
document version carries a secret token and its file a secret name; any of them in a response
to a caller who may not see that document now (an answer, citation, quote, passage, listing,
job) is a leak. The run must find none, and must find some with the filtering turned off."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from askdocs.access.principals import may_see
from askdocs.api.app import create_app
from askdocs.container import Container
from askdocs.generate.base import Message
from cache_support import BACKENDS, cache_container, close_caches  # noqa: F401
from test_api import wait_for_job

from fakes_generate import FakeGenerator

PRINCIPALS = ["user:alice", "user:bob", "user:carol", "group:eng", "group:ops"]
ACCESS_LISTS: list[tuple[str, ...]] = [
    (),
    ("user:alice",),
    ("group:eng",),
    ("group:ops", "user:bob"),
    ("user:carol",),
]
# Who asks: principals sets, and None for the admin key naming none (sees everything).
CALLERS: list[tuple[str, ...] | None] = [
    (),
    ("user:alice",),
    ("group:eng", "user:bob"),
    ("group:ops",),
    ("user:carol", "group:eng"),
    None,
]
WORDS = "amber falcon cobalt dune ember fjord garnet harbor indigo juniper kelp lumen".split()
PHRASINGS = [
    "What is the secret code for {}?",
    "what is the secret code for {}",
    "Please, what is the secret code for {}?",
    "What is the secret code for {} please?",
]
SECRET = re.compile(r"\b(?:tok|src)[0-9a-f]{10}\b")


class EchoGenerator(FakeGenerator):
    """Answers with the first secret the prompt shows, so an answer carries its passages'
    content: a cached answer served to the wrong caller shows the token."""

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        self.calls.append((list(messages), max_tokens, temperature))
        prompt = "\n".join(m.content for m in messages)
        found = re.search(r"secret code for (\w+ \w+) is (tok[0-9a-f]{10})", prompt)
        text = f"The secret code for {found[1]} is {found[2]} [1]." if found else "No code [1]."
        for i, word in enumerate(text.split(" ")):
            yield word if i == 0 else " " + word


@dataclass
class Doc:
    document_id: str
    source: str  # carries a src… secret
    topic: str
    access: tuple[str, ...]
    token: str = ""
    alive: bool = True


@dataclass
class Tally:
    operations: int = 0
    asks: int = 0
    leaks: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=lambda: {"exact": 0, "semantic": 0, "miss": 0})
    hidden_checks: int = 0  # reads of a document the caller may not see (must be 404)
    counts: dict[str, int] = field(default_factory=dict)


class World:
    """The model of what exists and who may see it, next to the server under test."""

    def __init__(self, client: TestClient, container: Container, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self.docs: list[Doc] = []
        self.dead: set[str] = set()  # tokens of replaced or deleted versions
        secret, _ = container.keys.create("admin", "admin")
        self.admin = {"Authorization": f"Bearer {secret}"}
        # Each caller: a key of its own with its principals, or the admin key naming them.
        self.keys: dict[tuple[str, ...], dict[str, str]] = {}
        for caller in CALLERS:
            if caller is not None:
                secret, _ = container.keys.create(f"k{len(self.keys)}", "read", (), caller)
                self.keys[caller] = {"Authorization": f"Bearer {secret}"}
        self.chunks: list[str] = []
        self.asked: list[tuple[tuple[str, ...] | None, Doc, str]] = []
        self.tally = Tally()

    def hex(self) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(10))

    def headers(self, caller: tuple[str, ...] | None) -> dict[str, str]:
        if caller is None:
            return self.admin
        if self.rng.random() < 0.5:
            return self.keys[caller]
        return self.admin | {"X-Askdocs-Principal": ",".join(caller)}

    def text(self, doc: Doc) -> bytes:
        doc.token = f"tok{self.hex()}"
        return f"# Note\n\nThe secret code for {doc.topic} is {doc.token}.\n".encode()

    def write(self, method: str, path: str, doc: Doc, access: tuple[str, ...] | None) -> None:
        data = {} if access is None else {"access": ",".join(access)}
        old = doc.token
        files = {"file": (doc.source, self.text(doc))}
        response = self.client.request(method, path, headers=self.admin, files=files, data=data)
        assert response.status_code == 202, response.text
        body = response.json()
        job = (body["files"][0] if "files" in body else body)["job_id"]
        assert wait_for_job(self.client, job, self.admin)["state"] == "succeeded"
        if old:
            self.dead.add(old)
        doc.access = doc.access if access is None else access

    # -- operations -------------------------------------------------------------------------

    def upload(self) -> None:
        topic = " ".join(self.rng.sample(WORDS, 2))
        doc = Doc("", f"note-src{self.hex()}.md", topic, self.rng.choice(ACCESS_LISTS))
        self.write("POST", "/v1/files", doc, doc.access)
        listed = self.client.get("/v1/files", headers=self.admin, params={"q": doc.source})
        doc.document_id = listed.json()["files"][0]["document_id"]
        self.docs.append(doc)

    def replace(self, doc: Doc) -> None:
        access = self.rng.choice([None, *ACCESS_LISTS])
        self.write("PUT", f"/v1/files/{doc.document_id}", doc, access)

    def relabel(self, doc: Doc) -> None:
        """The same bytes, a new access list."""
        access = self.rng.choice([a for a in ACCESS_LISTS if a != doc.access])
        data = {"access": ",".join(access)}
        body = f"# Note\n\nThe secret code for {doc.topic} is {doc.token}.\n".encode()
        response = self.client.put(
            f"/v1/files/{doc.document_id}",
            headers=self.admin,
            files={"file": (doc.source, body)},
            data=data,
        )
        assert response.status_code == 202, response.text
        assert wait_for_job(self.client, response.json()["job_id"], self.admin)["state"] == (
            "succeeded"
        )
        doc.access = access

    def delete(self, doc: Doc) -> None:
        response = self.client.delete(f"/v1/files/{doc.document_id}", headers=self.admin)
        assert response.status_code == 200, response.text
        doc.alive = False
        self.dead.add(doc.token)

    def ask(self, caller: tuple[str, ...] | None) -> None:
        doc = self.rng.choice(self.docs)
        phrasing = self.rng.choice(PHRASINGS)
        if self.asked and self.rng.random() < 0.6:  # again, maybe in other words
            caller, doc, phrasing = self.rng.choice(self.asked[-12:])
            if self.rng.random() < 0.4:
                phrasing = self.rng.choice(PHRASINGS)
            if self.rng.random() < 0.5:  # the same question from someone else
                caller = self.rng.choice(CALLERS)
        self.asked.append((caller, doc, phrasing))
        question = phrasing.format(doc.topic)
        if self.rng.random() < 0.15:  # a question naming a token: "never mentioned" check
            question = f"What does {doc.token} unlock?"
        response = self.client.post(
            "/v1/ask", headers=self.headers(caller), json={"question": question}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        self.tally.asks += 1
        self.tally.hits[body["cache"]] += 1
        self.chunks.extend(p["chunk_id"] for p in body["passages"])
        # The question's own words come back (the question, "never mention `…`"): the caller
        # wrote them, so they are no leak.
        self.check(
            caller, f"ask ({body['cache']}, {question!r})", body, set(SECRET.findall(question))
        )
        named = question.startswith("What does") and not self.visible(caller, doc)
        if named and f"never mention `{doc.token}`" not in body["answer"]:
            self.tally.leaks.append(f"mentions: {caller} learned {doc.token} exists")

    def read(self, caller: tuple[str, ...] | None) -> None:
        headers = self.headers(caller)
        self.check(caller, "files", self.client.get("/v1/files", headers=headers).json())
        self.check(caller, "jobs", self.client.get("/v1/jobs", headers=headers).json())
        doc = self.rng.choice(self.docs)
        for path in (f"/v1/files/{doc.document_id}", f"/v1/files/{doc.document_id}/content"):
            response = self.client.get(path, headers=headers)
            if self.visible(caller, doc):
                assert response.status_code == 200, (path, response.text)
            else:
                self.tally.hidden_checks += 1
                if response.status_code != 404:
                    self.tally.leaks.append(f"{path} answered {response.status_code} to {caller}")
            self.check(caller, path, response.text)
        if self.chunks:
            chunk = self.rng.choice(self.chunks)
            response = self.client.get(f"/v1/passages/{chunk}", headers=headers)
            assert response.status_code in (200, 404)
            self.check(caller, "passage", response.text)

    # -- the oracle -------------------------------------------------------------------------

    def visible(self, caller: tuple[str, ...] | None, doc: Doc) -> bool:
        return doc.alive and may_see(doc.access, caller)

    def check(
        self,
        caller: tuple[str, ...] | None,
        where: str,
        body: object,
        asked: set[str] | None = None,
    ) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        allowed = set(asked or ())
        for doc in self.docs:
            if self.visible(caller, doc):
                allowed |= {doc.token, doc.source.removeprefix("note-").removesuffix(".md")}
            elif where == "jobs" and may_see(doc.access, caller):
                # A deleted file's jobs stay listed, under the access list it last had.
                allowed.add(doc.source.removeprefix("note-").removesuffix(".md"))
        for secret in set(SECRET.findall(text)) - allowed:
            if secret in self.dead and where.startswith("ask"):
                self.tally.stale.append(f"{where}: {secret} (a replaced or deleted version)")
            elif secret not in self.dead or where.startswith("ask"):
                owner = next((d for d in self.docs if secret in (d.token, d.source)), None)
                self.tally.leaks.append(f"{where}: {caller} saw {secret} of {owner}")

    def step(self) -> None:
        alive = [d for d in self.docs if d.alive]
        roll = self.rng.random()
        if len(alive) < 3 or roll < 0.08:
            name = "upload"
            self.upload()
        elif roll < 0.14:
            name = "replace"
            self.replace(self.rng.choice(alive))
        elif roll < 0.21:
            name = "relabel"
            self.relabel(self.rng.choice(alive))
        elif roll < 0.24:
            name = "delete"
            self.delete(self.rng.choice(alive))
        elif roll < 0.82:
            name = "ask"
            self.ask(self.rng.choice(CALLERS))
        else:
            name = "read"
            self.read(self.rng.choice(CALLERS))
        self.tally.operations += 1
        self.tally.counts[name] = self.tally.counts.get(name, 0) + 1


def run(container: Container, operations: int, seed: int) -> Tally:
    container._generator = EchoGenerator()
    with TestClient(create_app(container, warm_up=False)) as client:
        world = World(client, container, random.Random(seed))
        for _ in range(operations):
            world.step()
        return world.tally


def leak_container(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Container:
    if backend == "sqlite":
        return cache_container(tmp_path / "data")
    server = request.getfixturevalue("redis_server")
    prefix = request.getfixturevalue("redis_prefix")
    return cache_container(tmp_path / "data", cache_url=server.url, prefix=prefix)


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_response_shows_a_document_its_caller_may_not_see(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    tally = run(leak_container(backend, request, tmp_path), operations=300, seed=7)
    print(f"{backend}: {tally}")
    assert tally.leaks == [] and tally.stale == []
    # The run exercised what it claims to: writes of every kind, both cache layers, and
    # reads of documents the caller may not see.
    assert tally.operations == 300 and tally.asks >= 150
    assert all(tally.counts.get(op, 0) >= 5 for op in ("upload", "replace", "relabel", "delete"))
    assert tally.hits["exact"] >= 10 and tally.hits["semantic"] >= 3, tally.hits
    assert tally.hidden_checks >= 10


@pytest.mark.parametrize("layer", ["retrieval", "cache"])
def test_the_leak_check_finds_leaks_when_filtering_is_off(
    layer: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The oracle has teeth: with retrieval ignoring access lists, or the answer cache keyed
    and served without them, the same kind of run reports leaks."""
    from askdocs.access.keys import Principal
    from askdocs.index.vectors import VectorMatrix
    from askdocs.services import answering

    if layer == "retrieval":
        mask = VectorMatrix._mask
        monkeypatch.setattr(
            VectorMatrix,
            "_mask",
            lambda self, collections, principals=None: mask(self, collections),
        )
    else:
        scope = answering.scope_digest
        monkeypatch.setattr(answering, "scope_digest", lambda c, a, s, p=None: scope(c, a, s))
        monkeypatch.setattr(Principal, "access_digest", property(lambda self: "everyone"))
    monkeypatch.setattr(answering.AnsweringService, "_may_see", lambda self, e, p: True)
    tally = run(leak_container("sqlite", request, tmp_path), operations=120, seed=7)
    assert len(tally.leaks) >= 3, tally
