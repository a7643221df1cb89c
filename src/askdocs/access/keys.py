"""API keys: created once and shown once, stored only as a hash, each with a scope, the
collections it may touch and the principals it acts for (document access lists).

A key reads ``askd_<id>_<secret>``: the id finds the row without scanning, the secret is 32
random bytes, so a plain sha256 of the whole key is as strong as a slow hash would be.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from askdocs.access.principals import may_see, parse_principals
from askdocs.errors import AskdocsError, DocumentNotFoundError
from askdocs.storage.sqlite import ThreadLocalSqlite

SCOPES = ("read", "write", "admin")
_PREFIX = "askd"
_USE_RESOLUTION = 60.0  # seconds

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  scope TEXT NOT NULL,
  collections TEXT NOT NULL,
  digest TEXT NOT NULL,
  created REAL NOT NULL,
  last_used REAL,
  revoked REAL,
  principals TEXT
);
"""


class InvalidKeyError(AskdocsError):
    """No key, a malformed or unknown key, or a revoked one."""

    code = "unauthorized"


class ForbiddenError(AskdocsError):
    """A valid key without the scope or collection a request needs."""

    code = "forbidden"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, its scope, the collections it is limited to (empty: every
    collection) and the principals it acts for, which decide the documents it sees (None: an
    admin that names none sees every document; empty: only documents open to everyone)."""

    key_id: str
    name: str
    scope: str
    collections: tuple[str, ...] = ()
    principals: tuple[str, ...] | None = None

    def can(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def require(self, scope: str) -> None:
        if not self.can(scope):
            raise ForbiddenError(
                f"this key has scope {self.scope!r}; the request needs {scope!r} or higher"
            )

    def allows(self, collection: str) -> bool:
        return not self.collections or collection in self.collections

    def require_collection(self, collection: str) -> None:
        if not self.allows(collection):
            raise ForbiddenError(
                f"this key may not use collection {collection!r}; "
                f"it is limited to {', '.join(self.collections)}"
            )

    def visible(self, asked: Sequence[str]) -> tuple[str, ...]:
        """The collections a request may search: what it asked for (checked), else all the
        key may see (empty: every collection)."""
        for collection in asked:
            self.require_collection(collection)
        return tuple(asked) or self.collections

    def may_see(self, access: Sequence[str]) -> bool:
        """Whether this caller may see a document with this access list."""
        return may_see(access, self.principals)

    def acting_for(self, header: str) -> Principal:
        """This admin key acting for the principals a front end names per request (the
        X-Askdocs-Principal header): it then sees what they see, no more."""
        if self.scope != "admin":
            raise ForbiddenError(
                "only an admin key may name the principal it acts for (X-Askdocs-Principal)"
            )
        return dataclasses.replace(self, principals=parse_principals(header))

    @property
    def access_digest(self) -> str:
        """What this caller may see, as a cache scope: two callers with the same access may
        share cached answers, callers with different access never do."""
        principals = None if self.principals is None else sorted(self.principals)
        material = json.dumps([sorted(self.collections), principals])
        return hashlib.sha256(material.encode()).hexdigest()[:16]


ANONYMOUS_ADMIN = Principal(key_id="-", name="auth disabled", scope="admin")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    name: str
    scope: str
    collections: tuple[str, ...]
    created: float
    last_used: float | None
    revoked: float | None
    principals: tuple[str, ...] = ()


class KeyStore:
    """API keys in SQLite under the data dir."""

    def __init__(self, path: Path) -> None:
        self._db = ThreadLocalSqlite(path)
        self._db().executescript(_SCHEMA)
        columns = {row[1] for row in self._db().execute("PRAGMA table_info(api_keys)")}
        if "principals" not in columns:  # a key store from before document access lists
            self._db().execute("ALTER TABLE api_keys ADD COLUMN principals TEXT")
        self._noted: dict[str, float] = {}

    def create(
        self,
        name: str,
        scope: str,
        collections: Sequence[str] = (),
        principals: Sequence[str] = (),
    ) -> tuple[str, KeyInfo]:
        """A new key; the returned secret is never stored and cannot be shown again. A key
        with ``principals`` sees the documents open to everyone and those open to one of
        them; an admin key without any sees every document."""
        if scope not in SCOPES:
            raise AskdocsError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
        if not name.strip():
            raise AskdocsError("a key needs a name (--name), to tell keys apart when revoking")
        key_id = secrets.token_hex(4)
        secret = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        acts_for = parse_principals(principals)
        info = KeyInfo(
            key_id, name.strip(), scope, tuple(collections), time.time(), None, None, acts_for
        )
        self._db().execute(
            "INSERT INTO api_keys (id, name, scope, collections, digest, created, principals)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key_id,
                info.name,
                scope,
                json.dumps(list(collections)),
                _digest(secret),
                info.created,
                json.dumps(list(acts_for)),
            ),
        )
        return secret, info

    def verify(self, secret: str | None) -> Principal:
        if not secret:
            raise InvalidKeyError(
                "an API key is required: send 'Authorization: Bearer <key>' "
                "(create one with `askdocs keys create`)"
            )
        parts = secret.split("_")
        if len(parts) < 3 or parts[0] != _PREFIX:
            raise InvalidKeyError("this is not an askdocs API key (they start with 'askd_')")
        row = (
            self._db()
            .execute(
                "SELECT name, scope, collections, digest, revoked, principals FROM api_keys"
                " WHERE id = ?",
                (parts[1],),
            )
            .fetchone()
        )
        if row is None or not hmac.compare_digest(row[3], _digest(secret)):
            raise InvalidKeyError("unknown API key: check it, or create one with `askdocs keys`")
        if row[4] is not None:
            raise InvalidKeyError("this API key was revoked: ask an admin for a new one")
        self._note_use(parts[1])
        principals = tuple(json.loads(row[5] or "[]"))
        # An admin key that names no principal sees every document, as before access lists.
        acts_for = None if row[1] == "admin" and not principals else principals
        return Principal(parts[1], row[0], row[1], tuple(json.loads(row[2])), acts_for)

    def _note_use(self, key_id: str) -> None:
        """Record when a key was last used, at most once a minute per process: a write per
        request would cost more than the rest of an exact cache hit."""
        now = time.time()
        if now - self._noted.get(key_id, 0.0) < _USE_RESOLUTION:
            return
        self._noted[key_id] = now
        self._db().execute("UPDATE api_keys SET last_used = ? WHERE id = ?", (now, key_id))

    def all(self) -> list[KeyInfo]:
        rows = self._db().execute(
            "SELECT id, name, scope, collections, created, last_used, revoked, principals"
            " FROM api_keys ORDER BY created"
        )
        return [
            KeyInfo(
                r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5], r[6],
                tuple(json.loads(r[7] or "[]")),
            )
            for r in rows
        ]  # fmt: skip

    def revoke(self, key_id_or_name: str) -> list[str]:
        """Revoke by id, or every live key with that name; returns the ids revoked."""
        db = self._db()
        ids = [
            r[0]
            for r in db.execute(
                "SELECT id FROM api_keys WHERE (id = ? OR name = ?) AND revoked IS NULL",
                (key_id_or_name, key_id_or_name),
            )
        ]
        if not ids:
            raise DocumentNotFoundError(
                f"no live key with id or name {key_id_or_name!r}: `askdocs keys list` shows them"
            )
        db.executemany(
            "UPDATE api_keys SET revoked = ? WHERE id = ?", [(time.time(), i) for i in ids]
        )
        return ids


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
