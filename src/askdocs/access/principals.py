"""Document-level access lists: which principals (``user:alice``, ``group:eng``) may see a
document, and whether a caller acting for some principals may.

A document's access list is empty (everyone who may use its collection sees it) or names the
principals that may. A caller acts for a set of principals, or for ``None``: an admin key that
names none sees every document. A caller with no principals sees only documents whose access
list is empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from askdocs.errors import InvalidRequestError

# kind:name, e.g. user:alice, group:eng, team:data-platform, user:bob@example.com
_PRINCIPAL = re.compile(r"^[a-z][a-z0-9_-]{0,31}:[^\s,:]{1,200}$")
MAX_PRINCIPALS = 64


class InvalidPrincipalError(InvalidRequestError):
    """An access list or principal that is not ``kind:name``."""


def parse_principals(values: str | Iterable[str]) -> tuple[str, ...]:
    """Principals from text (comma or white-space separated) or a list of such texts: checked,
    without repeats, sorted, so equal lists compare and hash equal."""
    texts = [values] if isinstance(values, str) else list(values)
    found = {p for text in texts for p in re.split(r"[\s,]+", text.strip()) if p}
    for principal in found:
        if not _PRINCIPAL.match(principal):
            raise InvalidPrincipalError(
                f"{principal[:100]!r} is not a principal: write kind:name, e.g. user:alice or "
                "group:eng (lower-case kind, no spaces or commas in the name)"
            )
    if len(found) > MAX_PRINCIPALS:
        raise InvalidPrincipalError(
            f"{len(found)} principals given; at most {MAX_PRINCIPALS} are taken: use a group"
        )
    return tuple(sorted(found))


def may_see(access: Sequence[str], principals: Sequence[str] | None) -> bool:
    """Whether a caller acting for ``principals`` (None: every document) may see a document
    with the access list ``access`` (empty: everyone)."""
    if principals is None or not access:
        return True
    return not set(access).isdisjoint(principals)
