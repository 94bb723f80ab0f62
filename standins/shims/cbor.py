"""CBOR shim: the AWS SDK for Rust speaks CloudWatch's Smithy RPC v2 CBOR protocol
(POST /service/GraniteServiceVersion20100801/operation/<Operation>, `smithy-protocol: rpc-v2-cbor`), which moto
5.2.5 does not route; moto does serve the same operations over the AWS JSON 1.0 protocol that CloudWatch also
lists. The shim re-encodes request and answer between the two and changes nothing else: the operation, its
members, the status, the error's `__type` and the caller's credentials (which pick moto's account) pass through."""
from __future__ import annotations

import json

from ..common import parse_json

CBOR_PATH = "/service/GraniteServiceVersion20100801/operation/"


def _cbor_value(value, key: str = ""):
    """A JSON answer's value as CBOR: RPC v2 CBOR sends timestamps as tag 1 (epoch seconds)."""
    import cbor2

    if isinstance(value, dict):
        return {k: _cbor_value(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_cbor_value(v) for v in value]
    if key.endswith("Timestamp") and isinstance(value, (int, float)):
        return cbor2.CBORTag(1, float(value))
    return value


def serve_cbor(h) -> bool:
    """Answers a CloudWatch RPC v2 CBOR request through moto's JSON protocol; False for any other request."""
    if not h.path.startswith(CBOR_PATH):
        return False
    import cbor2  # only CloudWatch calls pay for the import

    operation = h.path[len(CBOR_PATH):].split("?")[0]
    raw = h.read_body()
    request = cbor2.loads(raw) if raw else {}
    headers = {"Content-Type": "application/x-amz-json-1.0",
               "X-Amz-Target": f"GraniteServiceVersion20100801.{operation}",
               "Authorization": h.headers.get("Authorization", "")}
    status, _, data = h.upstream("POST", "/", json.dumps(request, default=str).encode(), headers)
    answer = parse_json(data)
    if not isinstance(answer, dict):
        answer = {"__type": "InternalFailure", "message": data.decode(errors="replace")[:500]}
    h.send(status, cbor2.dumps(_cbor_value(answer)),
           [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")])
    return True
