"""Secrets taken out of what `askdocs info` prints: API keys, and passwords or tokens inside
URLs (redis://:password@host, https://user:password@host, ?sig=... of a signed URL)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

HIDDEN = "***"
# Setting names that hold a secret: openai_api_key, password, token... (not max_tokens).
_SECRET_NAME = re.compile(r"(?:^|_)(?:api_key|key|password|passwd|secret|token|credentials?)$")
# Query parameters that carry one: Azure SAS signatures, S3 presigned URLs, tokens.
_SECRET_PARAM = re.compile(
    r"^(?:sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|token"
    r"|access_token|api_key|apikey|key|secret|password|pwd|sas)$",
    re.IGNORECASE,
)


def redact_secrets(value: object, name: str = "") -> object:
    """``value`` (settings as JSON data) with every secret replaced by ``***``."""
    if isinstance(value, dict):
        return {k: redact_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_secrets(v, name) for v in value]
    if value is not None and _SECRET_NAME.search(name.lower()):
        return HIDDEN
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    return value


def redact_url(url: str) -> str:
    """``url`` without the password (or bare token) of its user part and secret parameters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return HIDDEN  # not a URL one can read, so not one to print
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        # user:password keeps the user; a lone user part may be a token (https://TOKEN@host).
        netloc = f"{user}:{HIDDEN}@{host}" if colon else f"{HIDDEN}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, HIDDEN if _SECRET_PARAM.match(k) else v) for k, v in pairs], safe="*"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
