"""The adapter in front of AWS's local durable-functions server (`AWS_ENDPOINT_URL_LAMBDA`): it speaks the REAL
Lambda durable-execution REST API (real ARNs, the bare ErrorObject stop body, `Statuses=`, `X-Amzn-ErrorType`)
and translates for aws-durable-execution-sdk-python-testing 1.4.0, whose own API differs; it records every stop
as received (`GET|DELETE /_recorded`).

Its own shims, for what the server cannot show, live here with the translation they extend: pause
(`POST /_pause`), aliases (`PUT /_aliases/FN/ALIAS`, answered by GetAlias), the start route with defaults
(`POST /start-durable-execution`), and Invoke (`POST /2015-03-31/functions/FN/invocations`), which starts a durable
execution and answers its ARN in `X-Amz-Durable-Execution-Arn`."""
from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone

from .common import ACCOUNT_ID, DEFAULT_FUNCTION, DEFAULT_REGION, DURABLE_API, REAL_ARN_RE, log, parse_json
from .proxy_base import Handler, ProxyServer

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


class DurableAdapterHandler(Handler):
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
        if self.server.recording.serve(self):
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
        m = re.fullmatch(r"/2015-03-31/functions/([^/]+)/invocations", path)
        if m and method == "POST":
            return self.invoke(urllib.parse.unquote(m.group(1)), urllib.parse.parse_qs(url.query), body)
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

    def invoke(self, function: str, query: dict, body: bytes):
        """The Invoke shim: the server has no Lambda Invoke. Invoking a durable function starts a durable execution
        (named by `X-Amz-Durable-Execution-Name`, on the version the qualifier names or an alias of the alias
        shim resolves to) and answers as Lambda does: 202 for an asynchronous invocation (`X-Amz-Invocation-Type:
        Event`), with the execution's ARN in `X-Amz-Durable-Execution-Arn`. A synchronous one is refused: it
        would wait for the whole execution."""
        name, _, qualifier = re.sub(r"^(arn:[^:]+:lambda:[^:]+:)?(\d{12}:)?(function:)?", "", function).partition(":")
        qualifier = (query.get("Qualifier") or [qualifier or "$LATEST"])[0]
        if self.headers.get("X-Amz-Invocation-Type") != "Event":
            return aws_error("InvalidParameterValueException",
                             "the stand-in invokes durable functions asynchronously only (InvocationType Event)", 400)
        if not re.fullmatch(r"\$LATEST|[0-9]+", qualifier):
            with self.server.lock:
                alias = self.server.aliases.get((name, qualifier))
            if alias is None:
                return aws_error("ResourceNotFoundException", f"Function not found: {name}:{qualifier}", 404)
            qualifier = alias["FunctionVersion"]
        start = {"FunctionName": name, "FunctionQualifier": qualifier, "Input": body.decode() or "{}"}
        if self.headers.get("X-Amz-Durable-Execution-Name"):
            start["ExecutionName"] = self.headers["X-Amz-Durable-Execution-Name"]
        status, headers, data = self.start(json.dumps(start).encode())
        if status != 201:
            return status, headers, data
        arn = json.loads(data)["DurableExecutionArn"]
        return 202, [("X-Amz-Durable-Execution-Arn", arn), ("X-Amz-Executed-Version", qualifier),
                     ("Content-Type", "application/json")], b""

    def stop(self, arn: str, server_id: str | None, body: bytes):
        entry = {"time": time.time(), "arn": arn, "server_id": server_id, "raw_path": self.path,
                 "content_type": self.headers.get("Content-Type"), "body": parse_json(body)}
        if server_id is None:
            result = aws_error("ResourceNotFoundException", f"Durable execution not found: {arn}", 404)
        else:
            error_object = json.loads(body) if body.strip() else None
            wrapped = json.dumps({"Error": error_object} if error_object else {}).encode()
            result = self.translate_error(*self.upstream(
                "POST", f"{DURABLE_API}/durable-executions/{urllib.parse.quote(server_id, safe='')}/stop",
                wrapped, {"Content-Type": "application/json"}))
        entry["status"] = result[0]
        entry["response"] = parse_json(result[2])
        self.server.recording.record(entry)
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
        body = parse_json(data)
        if isinstance(body, dict) and body.get("Type"):
            msg = body.get("Message") or body.get("message") or ""
            return aws_error(body["Type"], msg, status)
        code = {404: "ResourceNotFoundException", 429: "TooManyRequestsException"}.get(
            status, "InvalidParameterValueException" if status < 500 else "ServiceException")
        return aws_error(code, str(body), status)


class DurableAdapterServer(ProxyServer):
    def __init__(self, upstream):
        super().__init__(DurableAdapterHandler, upstream)
        self.real_to_id: dict[str, str] = {}
        self.id_to_real: dict[str, str] = {}
        self.paused: set[str] = set()  # the pause shim's executions
        self.aliases: dict[tuple[str, str], dict] = {}  # the alias shim's definitions
        self.lock = threading.Lock()

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

