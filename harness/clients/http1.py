"""HTTP/1.1 message heads: the one parser of the client's and the fault proxy's framing.

Only what the two need: the start line, the headers (names lower-cased, repeats joined with ", " as
RFC 9110 allows), and the three framing questions — Content-Length, chunked, keep-alive.
"""

from __future__ import annotations

from dataclasses import dataclass


class BadMessage(Exception):
    """Malformed HTTP framing from the client or the upstream."""


@dataclass(slots=True)
class Head:
    """A message head: its raw bytes, the start line split in (at most) three, the headers."""

    raw: bytes
    start: list[bytes]
    headers: dict[bytes, bytes]


def parse_head(raw: bytes) -> Head:
    """Parse a head (request or response) ending in CRLF CRLF; raises BadMessage."""
    lines = raw.lstrip(b"\r\n").split(b"\r\n")
    start = lines[0].split(b" ", 2)
    if len(start) < 2:
        raise BadMessage(f"bad start line {lines[0][:80]!r}")
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip():
            raise BadMessage(f"bad header line {line[:80]!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = headers[key] + b", " + value if key in headers else value
    return Head(raw, start, headers)


def content_length(headers: dict[bytes, bytes]) -> int | None:
    """The body length the head announces, or None; conflicting values are a BadMessage."""
    value = headers.get(b"content-length")
    if value is None:
        return None
    values = {v.strip() for v in value.split(b",")}
    if len(values) != 1:
        raise BadMessage("conflicting Content-Length headers")
    text = values.pop()
    if not text.isdigit():
        raise BadMessage(f"bad Content-Length {text[:40]!r}")
    return int(text)


def is_chunked(headers: dict[bytes, bytes]) -> bool:
    """True when the body is chunked (chunked is the last transfer coding)."""
    value = headers.get(b"transfer-encoding")
    return value is not None and value.lower().rsplit(b",", 1)[-1].strip() == b"chunked"


def keep_alive(version: bytes, headers: dict[bytes, bytes]) -> bool:
    """True when the connection may carry another message after this one."""
    tokens = {t.strip() for t in headers.get(b"connection", b"").lower().split(b",")}
    if b"close" in tokens:
        return False
    return version != b"HTTP/1.0" or b"keep-alive" in tokens
