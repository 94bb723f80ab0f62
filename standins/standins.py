#!/usr/bin/env python3
"""Local AWS stand-ins for stop-gateway's tests (run with <repo>/.venv/bin/python, see setup.sh).

Processes started by `up` (all on 127.0.0.1, free ports):
  * moto_server                      - Step Functions, EventBridge, SQS (child process, own process group)
  * durable server                   - AWS's local durable-functions server (aws-durable-execution-sdk-python-
                                       testing 1.4.0) hosting our own `hold` durable function in-process
                                       (child process `standins.py _durable-server`, own process group)
  * moto proxy      (thread in `up`) - forwards everything to moto; records AWSStepFunctions.StopExecution
                                       bodies (moto does not store error/cause)        -> GET /_recorded
                                       leaves finished executions as they are on a stop, and finishes
                                       executions for tests (moto cannot)              -> POST /_finish
  * durable adapter (thread in `up`) - speaks the REAL Lambda durable-execution REST API in front of the
                                       durable server (real ARNs, bare ErrorObject stop body, Statuses=,
                                       X-Amzn-ErrorType) and records every stop body   -> GET /_recorded

CLI (every helper prints JSON on stdout; failures go to stderr with exit code 1):
  up --state FILE [--until-stdin-eof]    start all, write FILE (and print it as one line), run until killed
  down --state FILE                      stop a running `up` and its children
  sfn-start / sfn-status / sfn-finish / sfn-recorded / durable-start / durable-status / durable-list /
  durable-recorded / events-setup / events-read / reset     (see `standins.py COMMAND --help`)
"""
from __future__ import annotations

import argparse
import atexit
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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


def log(msg: str) -> None:
    print(f"standins: {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _pdeathsig_preexec():
    """A preexec_fn that, on Linux, has the kernel SIGTERM the child when `up` dies, even by SIGKILL.
    prctl is resolved here, in the parent: importing in the forked child is not safe."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


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


# --------------------------------------------------------------------------------------------------
# HTTP plumbing shared by the two proxies
# --------------------------------------------------------------------------------------------------
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "expect", "proxy-connection"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for the Rust SDK's pooled connections; we always send Content-Length

    def do_GET(self):  # noqa: N802
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def dispatch(self) -> None:  # overridden
        raise NotImplementedError

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status: int, body: bytes = b"", headers=()) -> None:
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP and k.lower() not in ("server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, obj, headers=()) -> None:
        self.send(status, json.dumps(obj).encode(), [("Content-Type", "application/json"), *headers])

    def upstream(self, method: str, path: str, body: bytes, headers=None):
        """Forward one request to self.server.upstream ((host, port)); returns (status, headers, body)."""
        if headers is None:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        try:
            conn.request(method, path, body=body if body or method in ("POST", "PUT") else None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def log_message(self, fmt, *args):  # requests are not worth a line each on stderr
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog; the default 5 is small for tests running in parallel

    def __init__(self, handler, upstream):
        super().__init__((HOST, 0), handler)
        self.upstream = upstream
        self.recorded: list[dict] = []
        # Executions a stop reached moto for (200): moto's executions never end on their own (a one-hour Wait),
        # so these, and the overlay's finished ones, are exactly the executions that are not RUNNING.
        self.aborted: set[str] = set()
        self.identities: dict[str, str] = {}  # assumed-role access key -> caller ARN
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def record(self, entry: dict) -> None:
        with self.lock:
            self.recorded.append(entry)

    def serve_recorded(self, h: _Handler) -> bool:
        """GET /_recorded lists the recorded stop requests; DELETE /_recorded clears them."""
        if urllib.parse.urlsplit(h.path).path != "/_recorded" or h.command not in ("GET", "DELETE"):
            return False
        with self.lock:
            out = list(self.recorded)
            if h.command == "DELETE":
                self.recorded.clear()
                self.aborted.clear()
        h.send_json(200, out)
        return True


def _parse_json(raw: bytes):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


# --------------------------------------------------------------------------------------------------
# Proxy in front of moto: records Step Functions StopExecution bodies
# --------------------------------------------------------------------------------------------------
# KMS shim: moto has no KMS-encrypted executions. Executions of state machines whose name contains
# KMS_ENCRYPTED_MARK behave as the StopExecution and DescribeExecution references describe an execution
# encrypted with a customer-managed key that the caller may not use: a stop that carries `error` or `cause`
# (which Step Functions would encrypt with the key) is refused with KmsAccessDeniedException, a stop with neither
# goes through; a describe needs kms:Decrypt unless it asks for includedData=METADATA_ONLY.
KMS_ENCRYPTED_MARK = "kms-encrypted"


def _kms_encrypted(body) -> bool:
    arn = body.get("executionArn", "") if isinstance(body, dict) else ""
    parts = arn.split(":")
    return len(parts) >= 7 and parts[5] == "execution" and KMS_ENCRYPTED_MARK in parts[6]


def _kms_refusal(target: str, body) -> bytes | None:
    """The error an encrypted execution's call gets from the shim, or None to pass it to moto."""
    if not _kms_encrypted(body):
        return None
    if target == "AWSStepFunctions.StopExecution" and (body.get("error") is not None or body.get("cause") is not None):
        message = "The execution role is not authorized to use the KMS key to encrypt the error and cause"
    elif target == "AWSStepFunctions.DescribeExecution" and body.get("includedData") != "METADATA_ONLY":
        message = "The caller is not authorized to use the KMS key to decrypt the execution's data"
    else:
        return None
    return json.dumps({"__type": "KmsAccessDeniedException", "message": message}).encode()


# Stop-after-end shim: moto's StopExecution turns ANY execution ABORTED, even one that already SUCCEEDED or FAILED,
# and moto has no way to end an execution at all (its Wait state never runs out; SF_EXECUTION_HISTORY_TYPE only
# picks FAILED for every new execution of the process, and execute_state_machine swaps in a separate backend).
# The real service leaves a finished execution as it is. So the proxy keeps an overlay of executions a test has
# finished (`POST /_finish`), answers DescribeExecution and ListExecutions from moto with that overlay applied,
# and, before forwarding a StopExecution, describes the execution: one that exists and is not RUNNING is left as
# it is and the stop is answered 200 with a fresh stopDate, so a caller that trusts the stop reply would wrongly
# think it stopped it. Only confirming (describe or list) shows it did not.
SFN_STOP, SFN_DESCRIBE, SFN_LIST = ("AWSStepFunctions.StopExecution", "AWSStepFunctions.DescribeExecution",
                                    "AWSStepFunctions.ListExecutions")
FINISH_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT")
_OVERLAY_TOKEN = "standins-overlay:"  # nextToken prefix of ListExecutions pages the proxy cuts itself
SFN_JSON = [("Content-Type", "application/x-amz-json-1.0")]


class MotoProxyServer(_Server):
    def __init__(self, upstream):
        super().__init__(MotoProxyHandler, upstream)
        self.finished: dict[str, dict] = {}  # executionArn -> {status, stopDate, stateMachineArn, error?, cause?}

    def ended(self, execution: dict) -> dict:
        """A DescribeExecution or ListExecutions item with the overlay applied."""
        with self.lock:
            end = self.finished.get(execution.get("executionArn"))
        if end is None:
            return execution
        out = {**execution, "status": end["status"], "stopDate": end["stopDate"]}
        for k in ("error", "cause"):
            if end.get(k) is not None:
                out[k] = end[k]
        return out


# CBOR shim: the AWS SDK for Rust speaks CloudWatch's Smithy RPC v2 CBOR protocol
# (POST /service/GraniteServiceVersion20100801/operation/<Operation>, `smithy-protocol: rpc-v2-cbor`), which moto
# 5.2.5 does not route; moto does serve the same operations over the AWS JSON 1.0 protocol that CloudWatch also
# lists. The shim re-encodes request and answer between the two and changes nothing else: the operation, its
# members, the status, the error's `__type` and the caller's credentials (which pick moto's account) pass through.
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


class MotoProxyHandler(_Handler):
    def serve_cbor(self) -> bool:
        if not self.path.startswith(CBOR_PATH):
            return False
        import cbor2

        operation = self.path[len(CBOR_PATH):].split("?")[0]
        raw = self.read_body()
        request = cbor2.loads(raw) if raw else {}
        headers = {"Content-Type": "application/x-amz-json-1.0",
                   "X-Amz-Target": f"GraniteServiceVersion20100801.{operation}",
                   "Authorization": self.headers.get("Authorization", "")}
        status, _, data = self.upstream("POST", "/", json.dumps(request, default=str).encode(), headers)
        answer = _parse_json(data)
        if not isinstance(answer, dict):
            answer = {"__type": "InternalFailure", "message": data.decode(errors="replace")[:500]}
        self.send(status, cbor2.dumps(_cbor_value(answer)),
                  [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")])
        return True

    def dispatch(self) -> None:
        if self.server.serve_recorded(self) or self.serve_finish() or self.serve_cbor():
            return
        body = self.read_body()
        target = self.headers.get("X-Amz-Target", "")
        request = _parse_json(body)
        refusal = _kms_refusal(target, request)
        ended = None
        if refusal is not None:
            status, headers, data = 400, SFN_JSON, refusal
        elif target == SFN_STOP and (ended := self.status_of(request)) not in (None, "RUNNING"):
            status, headers, data = 200, SFN_JSON, json.dumps({"stopDate": time.time()}).encode()
        elif target == SFN_LIST and (listed := self.list_with_overlay(request)) is not None:
            status, headers, data = listed
        else:
            # Host is forwarded unchanged, so URLs moto builds (SQS QueueUrl) point at whichever endpoint the
            # client used.
            status, headers, data = self.upstream(self.command, self.path, body)
            if target == SFN_DESCRIBE and status == 200:
                data = json.dumps(self.server.ended(json.loads(data))).encode()
        if target == SFN_STOP and ended is None and status == 200 and isinstance(request, dict):
            with self.server.lock:
                self.server.aborted.add(request.get("executionArn"))
        if target == SFN_STOP:
            entry = {"time": time.time(), "target": target, "body": request, "status": status}
            caller = self.assumed_caller()
            if caller:
                entry["caller"] = caller
            if ended not in (None, "RUNNING"):
                entry["shim"] = f"stop-after-end: execution was {ended}, left as it is"
            self.server.record(entry)
        self.send(status, data, headers)

    def assumed_caller(self) -> str | None:
        """Who made this call, when it was made with assumed-role credentials (moto's access keys for those
        start with ASIA): moto's GetCallerIdentity for the same access key, e.g.
        arn:aws:sts::222233334444:assumed-role/ROLE/SESSION. Moto identifies callers by access key and does not
        check signatures, so the caller's Authorization header answers for it. Cached per access key."""
        auth = self.headers.get("Authorization", "")
        key = auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else ""
        if not key.startswith("ASIA"):
            return None
        with self.server.lock:
            known = self.server.identities.get(key)
        if known:
            return known
        region = auth.split("Credential=", 1)[1].split("/")[2] if auth.count("/") >= 3 else DEFAULT_REGION
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Authorization": auth.replace(f"/{region}/states/", f"/{region}/sts/")}
        status, _, data = self.upstream("POST", "/", b"Action=GetCallerIdentity&Version=2011-06-15", headers)
        text = data.decode(errors="replace")
        if status != 200 or "<Arn>" not in text:
            return None
        arn = text.split("<Arn>", 1)[1].split("</Arn>", 1)[0]
        with self.server.lock:
            self.server.identities[key] = arn
        return arn

    def sfn_call(self, target: str, request: dict):
        """One Step Functions call to moto on behalf of the proxy. Moto finds the service, region and account in
        the Authorization header's credential scope and does not check the signature."""
        arn = request.get("executionArn") or request.get("stateMachineArn") or ""
        parts = arn.split(":")
        region = parts[3] if len(parts) > 3 and parts[3] else DEFAULT_REGION
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target,
                   "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20200101/{region}/states/aws4_request, "
                                    "SignedHeaders=host, Signature=0"}
        status, _, data = self.upstream("POST", "/", json.dumps(request).encode(), headers)
        return status, _parse_json(data)

    def status_of(self, request) -> str | None:
        """The execution's status if it is known not to be RUNNING (finished in the overlay, or stopped through
        this proxy), else None (the stop is forwarded). Known here, not asked of moto, so the shim costs moto no
        extra call per stop."""
        arn = request.get("executionArn") if isinstance(request, dict) else None
        if not isinstance(arn, str):
            return None
        with self.server.lock:
            end = self.server.finished.get(arn)
            if end is not None:
                return end["status"]
            return "ABORTED" if arn in self.server.aborted else None

    def list_with_overlay(self, request):
        """ListExecutions of a state machine with finished executions in the overlay: moto's whole list (in its
        order, newest start first) with the overlay applied, then filtered and paged here. None when the overlay
        holds none of the machine's executions (moto answers as it is)."""
        if not isinstance(request, dict) or not isinstance(request.get("stateMachineArn"), str):
            return None
        machine, token = request["stateMachineArn"], request.get("nextToken")
        ours = isinstance(token, str) and token.startswith(_OVERLAY_TOKEN)
        with self.server.lock:
            touched = any(e["stateMachineArn"] == machine for e in self.server.finished.values())
        if not touched and not ours:
            return None
        executions, next_token = [], None
        while True:
            page = {"stateMachineArn": machine, "maxResults": 1000, **({"nextToken": next_token} if next_token else {})}
            status, out = self.sfn_call(SFN_LIST, page)
            if status != 200:
                return status, SFN_JSON, json.dumps(out).encode()
            executions += [self.server.ended(e) for e in out.get("executions", [])]
            next_token = out.get("nextToken")
            if not next_token:
                break
        if request.get("statusFilter"):
            executions = [e for e in executions if e["status"] == request["statusFilter"]]
        start = int(token[len(_OVERLAY_TOKEN):]) if ours else 0
        size = int(request.get("maxResults") or 100)
        out = {"executions": executions[start:start + size]}
        if start + size < len(executions):
            out["nextToken"] = f"{_OVERLAY_TOKEN}{start + size}"
        return 200, SFN_JSON, json.dumps(out).encode()

    def serve_finish(self) -> bool:
        """`POST /_finish {"executionArn", "status": SUCCEEDED|FAILED|TIMED_OUT, "error"?, "cause"?}` ends a
        RUNNING execution in the overlay; `GET /_finish` lists the overlay, `DELETE /_finish` clears it."""
        if urllib.parse.urlsplit(self.path).path != "/_finish":
            return False
        if self.command in ("GET", "DELETE"):
            with self.server.lock:
                out = dict(self.server.finished)
                if self.command == "DELETE":
                    self.server.finished.clear()
            self.send_json(200, out)
            return True
        request = _parse_json(self.read_body())
        arn = request.get("executionArn") if isinstance(request, dict) else None
        end = request.get("status", "SUCCEEDED") if isinstance(request, dict) else None
        if not isinstance(arn, str) or end not in FINISH_STATUSES:
            self.send_json(400, {"message": f"expected {{executionArn, status: one of {FINISH_STATUSES}}}"})
            return True
        status, described = self.sfn_call(SFN_DESCRIBE, {"executionArn": arn, "includedData": "METADATA_ONLY"})
        if status != 200:
            self.send_json(status, described)
            return True
        current = self.server.ended(described)["status"]
        if current != "RUNNING":
            self.send_json(409, {"message": f"{arn} is {current}, not RUNNING"})
            return True
        entry = {"status": end, "stopDate": time.time(), "stateMachineArn": described["stateMachineArn"],
                 "error": request.get("error"), "cause": request.get("cause")}
        with self.server.lock:
            self.server.finished[arn] = entry
        self.send_json(200, {"executionArn": arn, "status": end, "stopDate": entry["stopDate"]})
        return True


# --------------------------------------------------------------------------------------------------
# Adapter in front of the durable server: real Lambda durable-execution REST API <-> server's own ids
# --------------------------------------------------------------------------------------------------
# Error members per the Lambda model: most use "Message", a few "message". Real Lambda puts "User" or
# "Service" in Type and the exception name in the X-Amzn-ErrorType header, which is what SDKs read.
_LOWER_MESSAGE = {"InvalidParameterValueException", "TooManyRequestsException"}


def aws_error(code: str, message: str, status: int):
    body = {"Type": "Service" if status >= 500 else "User",
            ("message" if code in _LOWER_MESSAGE else "Message"): message}
    return status, [("X-Amzn-ErrorType", code), ("Content-Type", "application/json")], json.dumps(body).encode()


def _epoch(value: str) -> float:
    """A timestamp query value as the SDKs send it (ISO 8601) or epoch seconds."""
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp()


class DurableAdapterHandler(_Handler):
    """Translation rules (the server is aws-durable-execution-sdk-python-testing 1.4.0):

    * The server names executions `{uuid}/{invocation uuid}`. The adapter mints the real-form ARN
      `{FunctionArn (…:function:NAME:$LATEST)}/durable-execution/{ExecutionName}/{first uuid}` for each
      execution it sees and keeps both directions in a map. A real ARN not in the map -> 404
      ResourceNotFoundException; a string that is not a real-form ARN -> 400 InvalidParameterValueException.
    * Stop: the SDKs send the bare ErrorObject as body; the server only reads {"Error": {...}}: wrap it.
    * List by function: the SDKs send Statuses= (repeatable); the server reads StatusFilter= (first value
      only) and silently drops every execution when StartedAfter/StartedBefore are ISO 8601 (it expects
      epoch floats). The adapter fetches the function's executions and filters and pages them itself.
    * Errors: add X-Amzn-ErrorType (the server sends only {"Type": name, "Message": ...}).
    * Response field names and epoch-seconds timestamps already match the real API; only ARNs change.
    * Qualifier, as the current model documents ListDurableExecutionsByFunction: "If you don't specify a
      qualifier, this operation returns executions across all versions"; with one (in `Qualifier`, or after
      the name in `FunctionName`), only that version's executions. The qualifier is "the function version to
      filter executions by"; an alias is refused (InvalidParameterValueException), so a client that sends one
      instead of resolving it fails loudly here rather than stopping the wrong set.
    * The ARN is one percent-encoded path segment, as the SDKs send it; an unencoded '/' does not name the
      operation's resource on the real service, so it is refused here (400) instead of tolerated.
    * Shims for what the server cannot show (named as such; what the current model says):
      - pause: PauseDurableExecution is not in the server. `POST /_pause {"DurableExecutionArn": …}` marks an
        execution PAUSED: GetDurableExecution and the list report it so (and filter on it), and
        StopDurableExecution stops it ("Stops a running or paused durable execution").
      - aliases: the server has no Lambda control plane. `PUT /_aliases/{function}/{alias}` with
        {"FunctionVersion": "1", "AdditionalVersionWeights": {"2": 0.1}} defines one, and
        `GET /2015-03-31/functions/{function}/aliases/{alias}` answers GetAlias from those definitions.
    """

    def dispatch(self) -> None:
        if self.server.serve_recorded(self):
            return
        url = urllib.parse.urlsplit(self.path)
        body = self.read_body()
        try:
            status, headers, data = self.route(url, body)
        except Exception as e:  # noqa: BLE001 - report as the service would, keep serving
            log(f"durable adapter: {self.command} {self.path}: {e!r}")
            status, headers, data = aws_error("ServiceException", f"stand-in adapter error: {e}", 500)
        headers = [*headers, ("x-amzn-RequestId", str(uuid.uuid4()))]
        self.send(status, data, headers)

    # -- routing -------------------------------------------------------------------------------------
    def route(self, url, body: bytes):
        path, method = url.path, self.command
        if path == "/_arns" and method == "GET":  # debugging aid: the real ARN -> server id map
            with self.server.lock:
                return 200, [("Content-Type", "application/json")], json.dumps(self.server.real_to_id).encode()
        if path == "/_pause" and method == "POST":
            arn = json.loads(body)["DurableExecutionArn"]
            if self.server.to_server_id(arn) is None:
                return aws_error("ResourceNotFoundException", f"Durable execution not found: {arn}", 404)
            with self.server.lock:
                self.server.paused.add(arn)
            return 200, [("Content-Type", "application/json")], b"{}"
        m = re.fullmatch(r"/_aliases/([^/]+)/([^/]+)", path)
        if m and method == "PUT":
            with self.server.lock:
                self.server.aliases[(urllib.parse.unquote(m.group(1)), urllib.parse.unquote(m.group(2)))] = json.loads(body)
            return 200, [("Content-Type", "application/json")], b"{}"
        m = re.fullmatch(r"/2015-03-31/functions/([^/]+)/aliases/([^/]+)", path)
        if m and method == "GET":
            return self.get_alias(urllib.parse.unquote(m.group(1)), urllib.parse.unquote(m.group(2)))
        if path == "/start-durable-execution" and method == "POST":
            return self.start(body)
        prefix = f"{DURABLE_API}/durable-executions/"
        if path.startswith(prefix):
            # Split off a trailing action on the RAW path: the ARN is one percent-encoded segment.
            rest, action = path[len(prefix):], ""
            for a in ("stop", "history", "state", "checkpoint"):
                if rest.endswith("/" + a):
                    rest, action = rest[: -len(a) - 1], a
            if "/" in rest:
                return aws_error("InvalidParameterValueException",
                                 "DurableExecutionArn must be one percent-encoded path segment (an unencoded '/' "
                                 "names another resource)", 400)
            arn = urllib.parse.unquote(rest)
            if not REAL_ARN_RE.fullmatch(arn):
                return aws_error("InvalidParameterValueException",
                                 f"Invalid DurableExecutionArn: {arn!r} is not a durable execution ARN", 400)
            server_id = self.server.to_server_id(arn)
            if action == "stop" and method == "POST":
                return self.stop(arn, server_id, body)
            if server_id is None:
                return aws_error("ResourceNotFoundException", f"Durable execution not found: {arn}", 404)
            new_path = prefix + urllib.parse.quote(server_id, safe="") + (f"/{action}" if action else "")
            if url.query:
                new_path += "?" + url.query
            status, headers, data = self.upstream(method, new_path, body)
            if status == 200 and action == "" and method == "GET":
                obj = self.with_pause(json.loads(data), arn)
                obj["DurableExecutionArn"] = arn
                data = json.dumps(obj).encode()
            return self.translate_error(status, headers, data)
        m = re.fullmatch(rf"{DURABLE_API}/functions/([^/]+)/durable-executions", path)
        if m and method == "GET":
            return self.list_by_function(urllib.parse.unquote(m.group(1)), urllib.parse.parse_qs(url.query))
        # Anything else (callbacks, /health, ...) passes through unchanged apart from error headers.
        return self.translate_error(*self.upstream(method, self.path, body))

    # -- operations ----------------------------------------------------------------------------------
    def with_pause(self, execution: dict, arn: str) -> dict:
        """The pause shim: a paused execution that the server still runs is reported PAUSED."""
        with self.server.lock:
            paused = arn in self.server.paused
        if paused and execution.get("Status") == "RUNNING":
            return {**execution, "Status": "PAUSED"}
        return execution

    def get_alias(self, function: str, alias: str):
        name = re.sub(r"^(arn:[^:]+:lambda:[^:]+:)?(\d{12}:)?(function:)?", "", function).split(":")[0]
        with self.server.lock:
            config = self.server.aliases.get((name, alias))
        if config is None:
            return aws_error("ResourceNotFoundException", f"Alias not found: {name}:{alias}", 404)
        out = {"AliasArn": f"arn:aws:lambda:{DEFAULT_REGION}:{ACCOUNT_ID}:function:{name}:{alias}", "Name": alias,
               "FunctionVersion": config["FunctionVersion"]}
        if config.get("AdditionalVersionWeights"):
            out["RoutingConfig"] = {"AdditionalVersionWeights": config["AdditionalVersionWeights"]}
        return 200, [("Content-Type", "application/json")], json.dumps(out).encode()

    def start(self, body: bytes):
        """The server's own start route, with defaults filled in and the real-form ARN returned."""
        req = json.loads(body or b"{}")
        req.setdefault("AccountId", ACCOUNT_ID)
        req.setdefault("FunctionName", DEFAULT_FUNCTION)
        req.setdefault("FunctionQualifier", "$LATEST")
        req.setdefault("ExecutionName", f"exec-{uuid.uuid4().hex[:12]}")
        req.setdefault("ExecutionTimeoutSeconds", 3600)
        req.setdefault("ExecutionRetentionPeriodDays", 1)
        if not isinstance(req.get("Input", ""), str):
            req["Input"] = json.dumps(req["Input"])  # the server wants Input as a JSON string
        status, headers, data = self.upstream("POST", "/start-durable-execution", json.dumps(req).encode(),
                                              {"Content-Type": "application/json"})
        if status != 201:
            return self.translate_error(status, headers, data)
        server_id = json.loads(data)["ExecutionArn"]
        st, _, details = self.upstream("GET", f"{DURABLE_API}/durable-executions/{urllib.parse.quote(server_id, safe='')}",
                                       b"", {})
        if st != 200:
            return aws_error("ServiceException", f"started {server_id} but could not read it back ({st})", 500)
        real = self.server.remember(server_id, json.loads(details))
        out = {"ExecutionArn": real, "DurableExecutionArn": real, "ServerExecutionArn": server_id}
        return 201, [("Content-Type", "application/json")], json.dumps(out).encode()

    def stop(self, arn: str, server_id: str | None, body: bytes):
        entry = {"time": time.time(), "arn": arn, "server_id": server_id, "raw_path": self.path,
                 "content_type": self.headers.get("Content-Type"), "body": _parse_json(body)}
        if server_id is None:
            result = aws_error("ResourceNotFoundException", f"Durable execution not found: {arn}", 404)
        else:
            error_object = json.loads(body) if body.strip() else None
            wrapped = json.dumps({"Error": error_object} if error_object else {}).encode()
            result = self.translate_error(*self.upstream(
                "POST", f"{DURABLE_API}/durable-executions/{urllib.parse.quote(server_id, safe='')}/stop",
                wrapped, {"Content-Type": "application/json"}))
        entry["status"] = result[0]
        entry["response"] = _parse_json(result[2])
        self.server.record(entry)
        return result

    def list_by_function(self, function: str, query: dict):
        # FunctionName may be a name, NAME:QUALIFIER, or a (partial) ARN; the server stores the bare name.
        name, _, in_name = re.sub(r"^(arn:[^:]+:lambda:[^:]+:)?(\d{12}:)?(function:)?", "", function).partition(":")
        first = lambda k: (query.get(k) or [None])[0]  # noqa: E731
        qualifier = first("Qualifier") or in_name or None
        if qualifier is not None and not re.fullmatch(r"\$LATEST(\.PUBLISHED)?|[0-9]+", qualifier):
            return aws_error("InvalidParameterValueException",
                             f"Qualifier {qualifier!r} is not a function version (the stand-in does not resolve aliases)",
                             400)
        statuses = set(query.get("Statuses", []))
        for s in list(statuses):  # tolerate Statuses=A,B as well as repeated Statuses=A&Statuses=B
            statuses.discard(s)
            statuses.update(x for x in s.split(",") if x)
        after, before = first("StartedAfter"), first("StartedBefore")
        after, before = (_epoch(after) if after else None), (_epoch(before) if before else None)
        fwd = {"MaxItems": "1000"}
        if first("DurableExecutionName"):
            fwd["DurableExecutionName"] = first("DurableExecutionName")
        if first("ReverseOrder"):
            fwd["ReverseOrder"] = first("ReverseOrder")
        items, marker = [], None
        while True:
            q = urllib.parse.urlencode({**fwd, **({"Marker": marker} if marker else {})})
            status, headers, data = self.upstream(
                "GET", f"{DURABLE_API}/functions/{urllib.parse.quote(name, safe='')}/durable-executions?{q}", b"", {})
            if status != 200:
                return self.translate_error(status, headers, data)
            page = json.loads(data)
            items += page.get("DurableExecutions", [])
            marker = page.get("NextMarker")
            if not marker:
                break
        kept = []
        for it in items:
            real = self.server.remember(it["DurableExecutionArn"], it)
            it = self.with_pause(it, real)
            if qualifier is not None and REAL_ARN_RE.fullmatch(real).group(5) != qualifier:
                continue
            if statuses and it.get("Status") not in statuses:
                continue
            if after is not None and it["StartTimestamp"] < after:
                continue
            if before is not None and it["StartTimestamp"] > before:
                continue
            kept.append({**it, "DurableExecutionArn": real})
        offset = int(first("Marker") or 0)
        limit = int(first("MaxItems") or 50)
        out = {"DurableExecutions": kept[offset: offset + limit]}
        if offset + limit < len(kept):
            out["NextMarker"] = str(offset + limit)
        return 200, [("Content-Type", "application/json")], json.dumps(out).encode()

    @staticmethod
    def translate_error(status: int, headers, data: bytes):
        if status < 400:
            return status, headers, data
        body = _parse_json(data)
        if isinstance(body, dict) and body.get("Type"):
            msg = body.get("Message") or body.get("message") or ""
            return aws_error(body["Type"], msg, status)
        code = {404: "ResourceNotFoundException", 429: "TooManyRequestsException"}.get(
            status, "InvalidParameterValueException" if status < 500 else "ServiceException")
        return aws_error(code, str(body), status)


class DurableAdapterServer(_Server):
    def __init__(self, upstream):
        super().__init__(DurableAdapterHandler, upstream)
        self.real_to_id: dict[str, str] = {}
        self.id_to_real: dict[str, str] = {}
        self.paused: set[str] = set()  # the pause shim's executions
        self.aliases: dict[tuple[str, str], dict] = {}  # the alias shim's definitions

    def remember(self, server_id: str, details: dict) -> str:
        """Real-form ARN for a server id (minted once, from the server's FunctionArn and name)."""
        with self.lock:
            if server_id in self.id_to_real:
                return self.id_to_real[server_id]
            fn_arn = details.get("FunctionArn") or ""
            if fn_arn.count(":") < 7:  # unqualified: the real ARN always carries the version
                fn_arn += ":$LATEST"
            real = f"{fn_arn}/durable-execution/{details['DurableExecutionName']}/{server_id.split('/')[0]}"
            self.real_to_id[real], self.id_to_real[server_id] = server_id, real
            return real

    def to_server_id(self, real: str) -> str | None:
        with self.lock:
            return self.real_to_id.get(real)


# --------------------------------------------------------------------------------------------------
# The durable server process: AWS's local server + our own `hold` function, in one Python process
# --------------------------------------------------------------------------------------------------
def run_durable_server(host: str, port: int, region: str) -> None:
    import logging

    from aws_durable_execution_sdk_python import DurableContext, durable_execution
    from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner
    from aws_durable_execution_sdk_python_testing.web.server import WebServer, WebServiceConfig

    @durable_execution
    def hold(event, context: DurableContext):
        # Waits on a callback nobody completes: the execution stays RUNNING until it is stopped
        # (or its ExecutionTimeoutSeconds passes).
        callback = context.create_callback(name="hold")
        return {"released": callback.result(), "input": event}

    WebServer.request_queue_size = 128  # as for our proxies (default listen backlog is 5)
    # skip_time=False: real clock, so nothing (timeouts, waits) completes early.
    runner = DurableFunctionTestRunner(hold, skip_time=False, region=region)
    # The runner exposes no public executor accessor; the web server needs the same one.
    server = WebServer(WebServiceConfig(host=host, port=port, log_level=logging.INFO), runner._executor)  # noqa: SLF001
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"durable server listening on {host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        runner.close()


# --------------------------------------------------------------------------------------------------
# `up`: start, health-check, write state, wait, tear down
# --------------------------------------------------------------------------------------------------
class StandinError(RuntimeError):
    pass


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _stop_group(proc: subprocess.Popen, name: str, grace: float = 5.0) -> None:
    """SIGTERM the child's process group, SIGKILL it after `grace` seconds."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            log(f"{name} (pid {proc.pid}) ignored {sig.name}")


class Stack:
    """The running stand-ins of one `up`."""

    def __init__(self, state_path: Path, region: str, log_dir: Path, timeout: float, stop: threading.Event):
        self.state_path, self.region, self.log_dir, self.timeout, self.stop = state_path, region, log_dir, timeout, stop
        self.children: dict[str, subprocess.Popen] = {}
        self.preexec = _pdeathsig_preexec()
        self.servers: list[_Server] = []
        self._closed = False

    def _spawn(self, name: str, argv: list[str], log_path: Path) -> subprocess.Popen:
        with open(log_path, "ab") as logf:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                    start_new_session=True,  # own process group: killpg reaches its children
                                    preexec_fn=self.preexec, env={**os.environ, **self._aws_env()})
        self.children[name] = proc
        return proc

    def _aws_env(self) -> dict:
        # Dummy credentials and region so nothing in the children ever looks for real ones.
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region, "PYTHONUNBUFFERED": "1"}

    def _start_all(self, specs: dict) -> dict:
        """Spawn every stand-in on a free port and wait (bounded, in parallel) for HTTP 200 on its health
        path. A child that exits early (e.g. its port was taken between choosing and binding it) is
        respawned, at most 3 times. Spawning happens on this (main) thread on purpose: PR_SET_PDEATHSIG
        fires when the forking *thread* exits. Returns {name: (port, seconds to healthy)}."""
        pending, done, attempts = {}, {}, {}

        def spawn(name):
            argv_of, _, log_path = specs[name]
            port = free_port()
            attempts[name] = attempts.get(name, 0) + 1
            pending[name] = (port, time.monotonic(), self._spawn(name, argv_of(port), log_path))

        for name in specs:
            spawn(name)
        while pending:
            if self.stop.is_set():
                raise StandinError(f"interrupted while waiting for stand-in(s) {', '.join(pending)}")
            for name, (port, t0, proc) in list(pending.items()):
                _, health, log_path = specs[name]
                if proc.poll() is not None:
                    log(f"stand-in '{name}' exited with code {proc.returncode} during startup "
                        f"(attempt {attempts[name]})")
                    if attempts[name] >= 3:
                        raise StandinError(f"stand-in '{name}' exited during startup 3 times; "
                                           f"log {log_path}:\n{_tail(log_path)}")
                    spawn(name)
                    continue
                try:
                    with urllib.request.urlopen(f"http://{HOST}:{port}{health}", timeout=2) as r:
                        if r.status == 200 and proc.poll() is None:  # alive: not someone else on the port
                            done[name] = (port, time.monotonic() - t0)
                            del pending[name]
                            continue
                except (OSError, http.client.HTTPException):
                    pass
                if time.monotonic() - t0 > self.timeout:
                    raise StandinError(f"stand-in '{name}' did not become healthy within {self.timeout:.0f} s "
                                       f"(GET http://{HOST}:{port}{health}); log {log_path}:\n{_tail(log_path)}")
            time.sleep(0.05)
        return done

    def start(self) -> dict:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        py, me = sys.executable, str(Path(__file__).resolve())
        moto_log, durable_log = self.log_dir / "moto.log", self.log_dir / "durable.log"
        for f in (moto_log, durable_log):
            f.unlink(missing_ok=True)  # logs of this run only (respawns append)
        ready = self._start_all({
            "moto": (lambda port: [py, "-m", "moto.server", "-H", HOST, "-p", str(port)],
                     "/moto-api/data.json", moto_log),
            "durable": (lambda port: [py, me, "_durable-server", "--host", HOST, "--port", str(port),
                                      "--region", self.region], "/health", durable_log),
        })
        (moto_port, moto_s), (durable_port, durable_s) = ready["moto"], ready["durable"]

        moto_proxy = MotoProxyServer((HOST, moto_port))
        adapter = DurableAdapterServer((HOST, durable_port))
        for srv in (moto_proxy, adapter):
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
            self.servers.append(srv)

        url = lambda port: f"http://{HOST}:{port}"  # noqa: E731
        moto_url, proxy_url, adapter_url = url(moto_port), url(moto_proxy.port), url(adapter.port)
        state = {
            "version": 1,
            "pid": os.getpid(),
            "region": self.region,
            "account_id": ACCOUNT_ID,
            "durable_function_name": DEFAULT_FUNCTION,
            "moto": {"pid": self.children["moto"].pid, "port": moto_port, "endpoint": moto_url,
                     "log": str(moto_log), "startup_seconds": round(moto_s, 3)},
            "durable_server": {"pid": self.children["durable"].pid, "port": durable_port,
                               "endpoint": url(durable_port), "log": str(durable_log),
                               "startup_seconds": round(durable_s, 3)},
            "moto_proxy": {"pid": os.getpid(), "port": moto_proxy.port, "endpoint": proxy_url,
                           "recorded": f"{proxy_url}/_recorded"},
            "durable_adapter": {"pid": os.getpid(), "port": adapter.port, "endpoint": adapter_url,
                                "recorded": f"{adapter_url}/_recorded"},
            # What the code under test should use (AWS_ENDPOINT_URL_<SERVICE> names as the SDKs read them).
            "env": {
                "AWS_ENDPOINT_URL_SFN": proxy_url,
                "AWS_ENDPOINT_URL_LAMBDA": adapter_url,
                "AWS_ENDPOINT_URL_EVENTBRIDGE": moto_url,
                "AWS_ENDPOINT_URL_SQS": moto_url,
                "AWS_ENDPOINT_URL_SSM": moto_url,
                "AWS_ENDPOINT_URL_CLOUDWATCH": proxy_url,
                "AWS_ENDPOINT_URL_STS": moto_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
            },
        }
        # Atomic write: a reader polling for the file never sees half of it.
        tmp = self.state_path.with_name(self.state_path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.state_path)
        return state

    def check_children(self) -> str | None:
        for name, proc in self.children.items():
            if proc.poll() is not None:
                return f"stand-in '{name}' (pid {proc.pid}) exited unexpectedly with code {proc.returncode}"
        return None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()
        for name, proc in reversed(list(self.children.items())):
            _stop_group(proc, name)
        # Remove the state file only if it is ours (a newer `up` may have reused the path).
        try:
            if json.loads(self.state_path.read_text()).get("pid") == os.getpid():
                self.state_path.unlink()
        except (OSError, ValueError):
            pass


def cmd_up(args) -> int:
    state_path = Path(args.state).resolve()
    state_path.parent.mkdir(parents=True, exist_ok=True)
    log_dir = Path(args.log_dir).resolve() if args.log_dir else state_path.with_name(state_path.name + ".logs")
    stop = threading.Event()
    reason = {"why": "signal"}

    def on_signal(signum, _frame):
        reason["why"] = signal.Signals(signum).name
        stop.set()

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    stack = Stack(state_path, args.region, log_dir, args.timeout, stop)
    atexit.register(stack.close)  # also covers exceptions escaping below
    try:
        t0 = time.monotonic()
        state = stack.start()
        log(f"ready in {time.monotonic() - t0:.2f} s (moto {state['moto']['startup_seconds']} s, "
            f"durable server {state['durable_server']['startup_seconds']} s); state in {state_path}")
        print(json.dumps(state), flush=True)  # one line: a parent can read it instead of polling the file
        if args.until_stdin_eof:
            def watch_stdin():
                # os.read on the raw descriptor: a daemon thread blocked inside sys.stdin.buffer holds its lock
                # and makes interpreter shutdown abort with a fatal error when `up` is stopped by a signal.
                while os.read(sys.stdin.fileno(), 65536):  # returns b"" only at EOF
                    pass
                reason["why"] = "stdin closed"
                stop.set()

            threading.Thread(target=watch_stdin, daemon=True).start()
        while not stop.wait(0.5):
            died = stack.check_children()
            if died:
                log(died)
                return 1
        log(f"stopping ({reason['why']})")
        return 0
    except StandinError as e:
        log(str(e))
        return 1
    finally:
        stack.close()


def launch(state_path, *extra_args: str, timeout: float = 60.0) -> tuple[subprocess.Popen, dict]:
    """Python equivalent of what a Rust test does: spawn `up --until-stdin-eof` with a stdin pipe and
    read its ready line. Closing proc.stdin (or this process dying) stops everything."""
    import queue

    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "up", "--state", str(state_path),
                             "--until-stdin-eof", *extra_args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        line = ""
    if not line:
        proc.kill()
        proc.wait()
        raise StandinError(f"`up` did not become ready: {proc.stderr.read()}")
    return proc, json.loads(line)


# --------------------------------------------------------------------------------------------------
# `down`
# --------------------------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie (exited, not yet reaped) counts as gone
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _looks_like(pid: int, marker: str) -> bool:
    """Guard against PID reuse: check the command line where /proc exists."""
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return not os.path.isdir("/proc")
    except OSError:
        return True


def cmd_down(args) -> int:
    path = Path(args.state)
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        print(json.dumps({"stopped": [], "note": "no state file"}))
        return 0
    procs = [("up", state["pid"], "standins"), ("moto", state["moto"]["pid"], "moto"),
             ("durable", state["durable_server"]["pid"], "standins")]
    stopped = []
    up_pid = state["pid"]
    if _alive(up_pid) and _looks_like(up_pid, "standins"):
        os.kill(up_pid, signal.SIGTERM)  # `up` stops its own children
        deadline = time.monotonic() + 15
        while _alive(up_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    # Whatever is still there (e.g. `up` was SIGKILLed on a system without PR_SET_PDEATHSIG): kill by group.
    for name, pid, marker in procs:
        if _alive(pid) and _looks_like(pid, marker):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pid, sig) if name != "up" else os.kill(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + 5
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if not _alive(pid):
                    break
        stopped.append({"name": name, "pid": pid, "alive": _alive(pid)})
    path.unlink(missing_ok=True)
    print(json.dumps({"stopped": stopped}))
    return 1 if any(s["alive"] for s in stopped) else 0


# --------------------------------------------------------------------------------------------------
# Helpers (Python API + CLI)
# --------------------------------------------------------------------------------------------------
class Standins:
    """Client for a running set of stand-ins, from its state file."""

    def __init__(self, state: dict):
        self.state = state
        self.region = state["region"]

    @classmethod
    def load(cls, path) -> Standins:
        return cls(json.loads(Path(path).read_text()))

    def client(self, service: str, endpoint: str | None = None, account: str | None = None):
        """A boto3 client for moto (or `endpoint`); in `account` when given and not the default one, with
        credentials from moto's STS for a role there (moto keeps resources per account)."""
        import boto3

        creds = DUMMY_CREDS
        if account and account != ACCOUNT_ID:
            sts = boto3.client("sts", endpoint_url=self.state["moto"]["endpoint"], region_name=self.region,
                               **DUMMY_CREDS)
            c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/standins", RoleSessionName="standins")
            c = c["Credentials"]
            creds = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
                     "aws_session_token": c["SessionToken"]}
        return boto3.client(service, endpoint_url=endpoint or self.state["moto"]["endpoint"],
                            region_name=self.region, **creds)

    # -- Step Functions (moto) -------------------------------------------------------------------------
    def sfn_start(self, count: int = 1, name: str | None = None, account: str | None = None) -> dict:
        """Create a state machine (a one-hour Wait) in `account` (default: moto's) and start `count` executions;
        they stay RUNNING."""
        sfn = self.client("stepfunctions", account=account)
        name = name or f"stop-gateway-test-{uuid.uuid4().hex[:8]}"
        definition = {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}}}
        sm = sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                      roleArn=f"arn:aws:iam::{account or ACCOUNT_ID}:role/stop-gateway-test")
        # Numbered after the machine's existing executions, so starting more of the same machine never collides.
        first = len(sfn.list_executions(stateMachineArn=sm["stateMachineArn"], maxResults=1000)["executions"])
        arns = [sfn.start_execution(stateMachineArn=sm["stateMachineArn"], name=f"{name}-{first + i}")["executionArn"]
                for i in range(count)]
        return {"stateMachineArn": sm["stateMachineArn"], "executionArns": arns}

    def sfn_status(self, execution_arn: str) -> dict:
        # Through the proxy, which knows the executions a test finished; METADATA_ONLY, as the gateway asks: an
        # encrypted execution's data would need kms:Decrypt. Read in the execution's own account.
        account = execution_arn.split(":")[4] if execution_arn.count(":") >= 4 else None
        sfn = self.client("stepfunctions", self.state["moto_proxy"]["endpoint"], account=account)
        d = sfn.describe_execution(executionArn=execution_arn, includedData="METADATA_ONLY")
        out = {"executionArn": d["executionArn"], "status": d["status"], "startDate": d["startDate"].timestamp()}
        if d.get("stopDate"):
            out["stopDate"] = d["stopDate"].timestamp()
        return out

    def sfn_finish(self, execution_arn: str, status: str = "SUCCEEDED") -> dict:
        """End a RUNNING execution with `status` (SUCCEEDED, FAILED or TIMED_OUT): the proxy's stop-after-end shim
        (moto cannot end an execution)."""
        code, _, out = http_json("POST", f"{self.state['moto_proxy']['endpoint']}/_finish",
                                 {"executionArn": execution_arn, "status": status})
        if code != 200:
            raise StandinError(f"finish {execution_arn}: {code} {out}")
        return out

    def sfn_recorded(self, clear: bool = False) -> list:
        return http_json("DELETE" if clear else "GET", self.state["moto_proxy"]["recorded"])[2]

    # -- durable executions (through the adapter) ------------------------------------------------------
    def durable_start(self, count: int = 1, function_name: str | None = None, input=None,
                      qualifier: str | None = None) -> list[str]:
        """Start `count` executions of the `hold` function (on `qualifier`, default $LATEST); returns their
        real-form ARNs."""
        arns = []
        for _ in range(count):
            body = {"FunctionName": function_name or DEFAULT_FUNCTION}
            if qualifier:
                body["FunctionQualifier"] = qualifier
            if input is not None:
                body["Input"] = input if isinstance(input, str) else json.dumps(input)
            status, _, out = http_json("POST", f"{self.state['durable_adapter']['endpoint']}/start-durable-execution", body)
            if status != 201:
                raise StandinError(f"durable start failed: {status} {out}")
            arns.append(out["ExecutionArn"])
        return arns

    # -- SSM Parameter Store (moto) -------------------------------------------------------------------
    def ssm_put(self, name: str, value: str) -> dict:
        """Create or overwrite an (advanced-tier) parameter; returns its new version."""
        out = self.client("ssm").put_parameter(Name=name, Value=value, Type="String", Tier="Advanced", Overwrite=True)
        return {"name": name, "version": out["Version"]}

    def alarm_put(self, name: str, dimensions: dict, tags: dict) -> dict:
        """Create (or replace) a metric alarm on a made-up metric with these dimensions and tags."""
        cw = self.client("cloudwatch")
        cw.put_metric_alarm(AlarmName=name, MetricName="Errors", Namespace="StopGateway/Test", Statistic="Sum",
                            Period=60, EvaluationPeriods=1, Threshold=1.0,
                            ComparisonOperator="GreaterThanOrEqualToThreshold",
                            Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
                            Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        return {"alarmArn": cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]}

    def alarm_state(self, name: str, state: str) -> dict:
        """Set an alarm's state (ALARM, OK, INSUFFICIENT_DATA), as CloudWatch would on a breach."""
        self.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"test set {state}")
        return {"alarm": name, "state": state}

    def alarm_actions(self, name: str, enabled: bool) -> dict:
        """Enable or disable an alarm's actions."""
        cw = self.client("cloudwatch")
        (cw.enable_alarm_actions if enabled else cw.disable_alarm_actions)(AlarmNames=[name])
        return {"alarm": name, "actionsEnabled": enabled}

    def durable_pause(self, arn: str) -> dict:
        """Mark an execution PAUSED (the adapter's pause shim)."""
        status, _, out = http_json("POST", f"{self.state['durable_adapter']['endpoint']}/_pause",
                                   {"DurableExecutionArn": arn})
        if status != 200:
            raise StandinError(f"pause {arn}: {status} {out}")
        return {"paused": arn}

    def durable_alias(self, function_name: str, alias: str, version: str, weights: dict | None = None) -> dict:
        """Define an alias (the adapter's alias shim): `version`, plus weighted routing versions."""
        config = {"FunctionVersion": version, "AdditionalVersionWeights": weights or {}}
        url = (f"{self.state['durable_adapter']['endpoint']}/_aliases/"
               f"{urllib.parse.quote(function_name, safe='')}/{urllib.parse.quote(alias, safe='')}")
        status, _, out = http_json("PUT", url, config)
        if status != 200:
            raise StandinError(f"alias {function_name}:{alias}: {status} {out}")
        return {"alias": alias, **config}

    def durable_status(self, arn: str) -> dict:
        """GetDurableExecution as the real API answers it (Status, Error, epoch timestamps...)."""
        url = f"{self.state['durable_adapter']['endpoint']}{DURABLE_API}/durable-executions/{urllib.parse.quote(arn, safe='')}"
        status, headers, out = http_json("GET", url)
        if status != 200:
            raise StandinError(f"GetDurableExecution {arn}: {status} {headers.get('X-Amzn-ErrorType')} {out}")
        return out

    def durable_list(self, function_name: str | None = None, statuses=()) -> dict:
        q = urllib.parse.urlencode([("Statuses", s) for s in statuses])
        url = (f"{self.state['durable_adapter']['endpoint']}{DURABLE_API}/functions/"
               f"{urllib.parse.quote(function_name or DEFAULT_FUNCTION, safe='')}/durable-executions?{q}")
        return http_json("GET", url)[2]

    def durable_recorded(self, clear: bool = False) -> list:
        return http_json("DELETE" if clear else "GET", self.state["durable_adapter"]["recorded"])[2]

    # -- EventBridge -> SQS (moto) ---------------------------------------------------------------------
    def events_setup(self, bus: str | None = None, queue: str | None = None,
                     detail_type: str = "Stop Gateway Decision") -> dict:
        """Custom bus + rule on detail-type + SQS queue target. Names get a random suffix unless given."""
        suffix = uuid.uuid4().hex[:8]
        bus, queue = bus or f"stop-gateway-test-{suffix}", queue or f"stop-gateway-decisions-{suffix}"
        events, sqs = self.client("events"), self.client("sqs")
        bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
        queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule = f"{bus}-decisions"
        rule_arn = events.put_rule(Name=rule, EventBusName=bus,
                                   EventPattern=json.dumps({"detail-type": [detail_type]}))["RuleArn"]
        events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
        return {"busName": bus, "busArn": bus_arn, "ruleName": rule, "ruleArn": rule_arn,
                "queueUrl": queue_url, "queueArn": queue_arn, "detailType": detail_type}

    def events_read(self, queue_url: str, expect: int = 0, timeout: float = 5.0) -> list:
        """Drain the queue (receive + delete). Waits up to `timeout` s for at least `expect` messages, then
        returns everything received (event bodies parsed as JSON)."""
        sqs = self.client("sqs")
        out, deadline = [], time.monotonic() + timeout
        while True:
            msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=30).get("Messages", [])
            for m in msgs:
                out.append(_parse_json(m["Body"].encode()))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            if not msgs and (len(out) >= expect or time.monotonic() >= deadline):
                return out
            if not msgs:
                time.sleep(0.1)

    def reset(self) -> dict:
        """Clear moto's state, the finished executions and both recordings (durable executions are left: the
        server has no reset)."""
        http_json("POST", f"{self.state['moto']['endpoint']}/moto-api/reset")
        http_json("DELETE", f"{self.state['moto_proxy']['endpoint']}/_finish")
        self.sfn_recorded(clear=True)
        self.durable_recorded(clear=True)
        return {"reset": True}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="standins.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    def cmd(name, help_, *, state=True):
        sp = sub.add_parser(name, help=help_, description=help_)
        if state:
            sp.add_argument("--state", required=True, help="state file written by `up`")
        return sp

    sp = cmd("up", "start moto, the durable server and both proxies; write the state file; run until "
                   "SIGTERM/SIGINT (or stdin EOF with --until-stdin-eof)")
    sp.add_argument("--region", default=DEFAULT_REGION)
    sp.add_argument("--timeout", type=float, default=HEALTH_TIMEOUT, help="health-check limit per stand-in (s)")
    sp.add_argument("--log-dir", help="default: <state file>.logs/")
    sp.add_argument("--until-stdin-eof", action="store_true",
                    help="also stop when stdin is closed (spawn with a pipe; dropping it stops everything)")
    cmd("down", "stop the stand-ins of a state file")
    sp = cmd("sfn-start", "create a state machine and start N executions (stay RUNNING)")
    sp.add_argument("--count", type=int, default=1)
    sp.add_argument("--name", help="state machine name (default: random)")
    sp.add_argument("--account", help="create it in this account (default: moto's)")
    sp = cmd("sfn-status", "describe a Step Functions execution (in the account its ARN names)")
    sp.add_argument("arn")
    sp = cmd("sfn-finish", "end a RUNNING execution (SUCCEEDED by default): the moto proxy's stop-after-end shim")
    sp.add_argument("arn")
    sp.add_argument("--status", default="SUCCEEDED", choices=FINISH_STATUSES)
    sp = cmd("sfn-recorded", "StopExecution request bodies seen by the moto proxy")
    sp.add_argument("--clear", action="store_true", help="return and clear")
    sp = cmd("durable-start", "start N durable executions (stay RUNNING); prints their real-form ARNs")
    sp.add_argument("--count", type=int, default=1)
    sp.add_argument("--qualifier", help="the version to start them on (default $LATEST)")
    sp.add_argument("--function", default=DEFAULT_FUNCTION)
    sp.add_argument("--input", help="execution input (JSON text)")
    sp = cmd("ssm-put", "create or overwrite an SSM parameter with the text of a file")
    sp.add_argument("name")
    sp.add_argument("file")
    sp = cmd("alarm-put", "create a metric alarm with dimensions and tags (KEY=VALUE, repeatable)")
    sp.add_argument("name")
    sp.add_argument("--dimension", action="append", default=[])
    sp.add_argument("--tag", action="append", default=[])
    sp = cmd("alarm-state", "set an alarm's state")
    sp.add_argument("name")
    sp.add_argument("value", choices=["ALARM", "OK", "INSUFFICIENT_DATA"])
    sp = cmd("alarm-actions", "enable or disable an alarm's actions")
    sp.add_argument("name")
    sp.add_argument("enabled", choices=["on", "off"])
    sp = cmd("durable-pause", "mark a durable execution PAUSED (the adapter's pause shim)")
    sp.add_argument("arn")
    sp = cmd("durable-alias", "define a function alias (the adapter's alias shim)")
    sp.add_argument("function")
    sp.add_argument("alias")
    sp.add_argument("version")
    sp.add_argument("--weight", action="append", default=[], help="VERSION=WEIGHT of weighted routing")
    sp = cmd("durable-status", "GetDurableExecution for a real-form ARN (Status, Error, ...)")
    sp.add_argument("arn")
    sp = cmd("durable-list", "ListDurableExecutionsByFunction through the adapter")
    sp.add_argument("--function", default=DEFAULT_FUNCTION)
    sp.add_argument("--status", action="append", default=[], help="repeatable")
    sp = cmd("durable-recorded", "stop request bodies seen by the durable adapter")
    sp.add_argument("--clear", action="store_true", help="return and clear")
    sp = cmd("events-setup", "create an EventBridge bus + rule (detail-type) + SQS target")
    sp.add_argument("--bus")
    sp.add_argument("--queue")
    sp.add_argument("--detail-type", default="Stop Gateway Decision")
    sp = cmd("events-read", "drain an SQS queue; print the event bodies")
    sp.add_argument("--queue-url", required=True)
    sp.add_argument("--expect", type=int, default=0, help="wait until at least this many arrived")
    sp.add_argument("--timeout", type=float, default=5.0)
    cmd("reset", "clear moto's state, the finished executions and both recordings")
    sp = sub.add_parser("_durable-server", help="internal: the durable server process that `up` starts")
    sp.add_argument("--host", default=HOST)
    sp.add_argument("--port", type=int, required=True)
    sp.add_argument("--region", default=DEFAULT_REGION)

    a = p.parse_args(argv)
    if a.cmd == "up":
        return cmd_up(a)
    if a.cmd == "down":
        return cmd_down(a)
    if a.cmd == "_durable-server":
        run_durable_server(a.host, a.port, a.region)
        return 0
    try:
        s = Standins.load(a.state)
        result = {
            "sfn-start": lambda: s.sfn_start(a.count, a.name, a.account),
            "sfn-status": lambda: s.sfn_status(a.arn),
            "sfn-finish": lambda: s.sfn_finish(a.arn, a.status),
            "sfn-recorded": lambda: s.sfn_recorded(a.clear),
            "durable-pause": lambda: s.durable_pause(a.arn),
            "alarm-put": lambda: s.alarm_put(a.name, dict(d.split("=", 1) for d in a.dimension),
                                             dict(t.split("=", 1) for t in a.tag)),
            "alarm-state": lambda: s.alarm_state(a.name, a.value),
            "alarm-actions": lambda: s.alarm_actions(a.name, a.enabled == "on"),
            "ssm-put": lambda: s.ssm_put(a.name, Path(a.file).read_text()),
            "durable-alias": lambda: s.durable_alias(
                a.function, a.alias, a.version, {w.split("=")[0]: float(w.split("=")[1]) for w in a.weight}),
            "durable-start": lambda: {"executionArns": s.durable_start(a.count, a.function, a.input, a.qualifier)},
            "durable-status": lambda: s.durable_status(a.arn),
            "durable-list": lambda: s.durable_list(a.function, a.status),
            "durable-recorded": lambda: s.durable_recorded(a.clear),
            "events-setup": lambda: s.events_setup(a.bus, a.queue, a.detail_type),
            "events-read": lambda: s.events_read(a.queue_url, a.expect, a.timeout),
            "reset": s.reset,
        }[a.cmd]()
    except Exception as e:  # noqa: BLE001 - CLI: one clear line, non-zero exit
        print(f"standins.py {a.cmd}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
