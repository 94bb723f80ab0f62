"""The proxy in front of moto (`AWS_ENDPOINT_URL_SFN` and `AWS_ENDPOINT_URL_CLOUDWATCH`): forwards every request
to moto unchanged, except where a shim (see `shims/`) stands in for what moto gets wrong or cannot show, and
records each StopExecution as it arrived (moto accepts `error`/`cause` but does not store them).

Endpoints of its own: `GET|DELETE /_recorded` (the stops), `POST|GET|DELETE /_finish` (the finished executions).
GetExecutionHistory is answered by the history shim, from the stops and ends the proxy knows."""
from __future__ import annotations

import json
import time

from .common import parse_json
from .proxy_base import Handler, ProxyServer
from .shims.cbor import serve_cbor
from .shims.history import SFN_HISTORY, execution_history
from .shims.kms import kms_refusal
from .shims.recording import Callers
from .shims.stop_after_end import SFN_DESCRIBE, SFN_JSON, SFN_LIST, SFN_STOP, Overlay


class MotoProxyServer(ProxyServer):
    def __init__(self, upstream):
        super().__init__(MotoProxyHandler, upstream)
        self.overlay = Overlay()
        self.callers = Callers()

    def on_clear(self) -> None:
        # A cleared recording starts over: the stops it held no longer mark their executions as ended.
        self.overlay.forget_stops()


class MotoProxyHandler(Handler):
    def dispatch(self) -> None:
        server = self.server
        if server.recording.serve(self) or server.overlay.serve_finish(self) or serve_cbor(self):
            return
        body = self.read_body()
        target = self.headers.get("X-Amz-Target", "")
        request = parse_json(body)
        refusal = kms_refusal(target, request)
        ended = None
        if refusal is not None:
            status, headers, data = 400, SFN_JSON, refusal
        elif target == SFN_STOP and (ended := server.overlay.status_of(request)) not in (None, "RUNNING"):
            status, headers, data = 200, SFN_JSON, json.dumps({"stopDate": time.time()}).encode()
        elif target == SFN_LIST and (listed := server.overlay.list_executions(self, request)) is not None:
            status, headers, data = listed
        elif target == SFN_HISTORY:
            status, headers, data = execution_history(self, server.overlay, request)
        else:
            # Host is forwarded unchanged, so URLs moto builds (SQS QueueUrl) point at whichever endpoint the
            # client used.
            status, headers, data = self.upstream(self.command, self.path, body)
            if target == SFN_DESCRIBE and status == 200:
                data = json.dumps(server.overlay.ended(json.loads(data))).encode()
        if target == SFN_STOP:
            if ended is None and status == 200:
                server.overlay.stopped(request)
            self.record_stop(request, status, ended)
        self.send(status, data, headers)

    def record_stop(self, request, status: int, ended: str | None) -> None:
        entry = {"time": time.time(), "target": SFN_STOP, "body": request, "status": status}
        caller = self.server.callers.of(self)
        if caller:
            entry["caller"] = caller
        if ended not in (None, "RUNNING"):
            entry["shim"] = f"stop-after-end: execution was {ended}, left as it is"
        self.server.recording.record(entry)
