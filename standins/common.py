"""What every part of the stand-ins shares: the fixed names (host, account, region, the durable function), the
real durable-execution ARN pattern, a one-line logger, free ports and a small JSON HTTP client.

Kept apart so that the proxies, the stack and the helper client agree on these without importing each other."""
from __future__ import annotations

import json
import re
import socket
import sys
import urllib.error
import urllib.request

HOST = "127.0.0.1"
ACCOUNT_ID = "123456789012"  # moto's default account; the durable adapter uses it too
DEFAULT_REGION = "us-east-1"
DEFAULT_FUNCTION = "stop-gateway-durable-test"
HEALTH_TIMEOUT = 30.0
DURABLE_API = "/2025-12-01"
# The real API's DurableExecutionArn pattern (botocore's Lambda model), anchored.
REAL_ARN_RE = re.compile(
    r"arn:([a-zA-Z0-9-]+):lambda:([a-zA-Z0-9-]+):(\d{12}):function:([a-zA-Z0-9_-]+):"
    r"(\$LATEST(?:\.PUBLISHED)?|[0-9]+)/durable-execution/([a-zA-Z0-9_-]+)/([a-zA-Z0-9_-]+)"
)
DUMMY_CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class StandinError(RuntimeError):
    """A stand-in did not start, or a helper's request was refused."""


def log(msg: str) -> None:
    print(f"standins: {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def parse_json(raw: bytes):
    """A body as JSON, or as text when it is not JSON (error pages), or None when empty."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def http_json(method: str, url: str, body=None, timeout: float = 30.0):
    """Small JSON HTTP client: returns (status, headers, parsed body or raw text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, headers, raw = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, dict(e.headers), e.read()
    try:
        return status, headers, json.loads(raw) if raw else None
    except ValueError:
        return status, headers, raw.decode(errors="replace")
