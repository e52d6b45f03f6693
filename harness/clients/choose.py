"""Which client sends a run's requests: ``--client sdk`` or ``--client prepared``."""

from __future__ import annotations

from harness.backends.endpoint import Endpoint
from harness.clients.prepared import PreparedClient
from harness.clients.sdk import DynamoClient


def make_client(kind: str, endpoint: Endpoint, *, pool: int, retries: int = 0, timeout_s: float = 10.0) -> DynamoClient:
    """``sdk``: every call through aioboto3 (exercises the SDK's retries); ``prepared``: requests
    serialised and signed before the starting gun and written on pre-opened connections."""
    if kind == "sdk":
        return DynamoClient(endpoint, pool=pool, retries=retries, timeout_s=timeout_s)
    if kind == "prepared":
        return PreparedClient(endpoint, pool=pool, retries=retries, timeout_s=timeout_s)
    raise ValueError(f"unknown client {kind!r}")
