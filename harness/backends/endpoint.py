"""Where the database under test is: an :class:`Endpoint` (no SDK needed to describe one)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BACKEND_KINDS = ("local", "moto", "dynalite", "endpoint", "aws")
LOCAL_REGION = "us-east-1"
# DynamoDB Local keeps one database per access key + region: every client must use the same pair.
FAKE_CREDENTIALS = {"aws_access_key_id": "ddbstress", "aws_secret_access_key": "ddbstress"}
UNKNOWN_ENDPOINT_VERSION = "DynamoDB-compatible endpoint (version unknown)"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})  # reachable from this machine only


@dataclass
class Endpoint:
    """How clients reach the backend under test."""

    kind: str
    url: str | None
    region: str
    version: str
    credentials: dict[str, str] | None = None
    details: dict[str, object] = field(default_factory=dict)
    server: Any = field(default=None, repr=False)  # the managed server, for crash faults
    sts_url: str | None = field(default=None, repr=False)  # aws: where STS is asked for the account

    def via(self, url: str) -> Endpoint:
        """The same backend reached through another URL (the fault proxy)."""
        return replace(self, url=url)

    def describe(self) -> dict[str, object]:
        """The run.json / --json description (no credentials, userinfo redacted)."""
        return {"kind": self.kind, "endpoint": redact_url(self.url) if self.url else None,
                "version": self.version, "region": self.region, **self.details}

    def client_kwargs(self) -> dict[str, object]:
        """Keyword arguments for boto3/aioboto3 ``client("dynamodb", ...)``."""
        kwargs: dict[str, object] = {"region_name": self.region}
        if self.url:
            kwargs["endpoint_url"] = self.url
        if self.credentials:
            kwargs.update(self.credentials)
        return kwargs


def redact_url(url: str) -> str:
    """Drop user:password@ from a URL so it can be logged."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def configured_endpoint_url(service: str, *, general: bool = True) -> str | None:
    """The endpoint the AWS SDKs take from the environment: ``AWS_ENDPOINT_URL_<SERVICE>``, else (with
    ``general``) ``AWS_ENDPOINT_URL``; none when ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` is true."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").strip().lower() == "true":
        return None
    names = [f"AWS_ENDPOINT_URL_{service.upper()}"] + (["AWS_ENDPOINT_URL"] if general else [])
    return next((os.environ[name] for name in names if os.environ.get(name)), None)
