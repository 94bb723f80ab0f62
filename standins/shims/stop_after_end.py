"""Stop-after-end shim: moto's StopExecution turns ANY execution ABORTED, even one that already SUCCEEDED or
FAILED, and moto has no way to end an execution at all (its Wait state never runs out; SF_EXECUTION_HISTORY_TYPE
only picks FAILED for every new execution of the process, and execute_state_machine swaps in a separate backend).
The real service leaves a finished execution as it is.

So the proxy keeps an overlay of executions a test has finished (`POST /_finish`) and answers DescribeExecution and
ListExecutions with that overlay applied. A StopExecution of an execution the proxy knows is not RUNNING (finished
in the overlay, or stopped through the proxy before: moto's executions never end on their own, so nothing else can
have ended them) is left as it is and answered 200 with a fresh stopDate, so a caller that trusts the stop reply
would wrongly think it stopped it. Only confirming (describe or list) shows it did not."""
from __future__ import annotations

import json
import threading
import time
import urllib.parse

from ..common import DEFAULT_REGION, parse_json

SFN_STOP, SFN_DESCRIBE, SFN_LIST = ("AWSStepFunctions.StopExecution", "AWSStepFunctions.DescribeExecution",
                                    "AWSStepFunctions.ListExecutions")
SFN_JSON = [("Content-Type", "application/x-amz-json-1.0")]
FINISH_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT")
_OVERLAY_TOKEN = "standins-overlay:"  # nextToken prefix of ListExecutions pages the proxy cuts itself


def sfn_call(h, target: str, request: dict):
    """One Step Functions call to moto on behalf of the proxy. Moto finds the service, region and account in
    the Authorization header's credential scope and does not check the signature."""
    arn = request.get("executionArn") or request.get("stateMachineArn") or ""
    parts = arn.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else DEFAULT_REGION
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target,
               "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20200101/{region}/states/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    status, _, data = h.upstream("POST", "/", json.dumps(request).encode(), headers)
    return status, parse_json(data)


class Overlay:
    """The executions that are not RUNNING although moto says they are, or that moto would wrongly stop again."""

    def __init__(self):
        self.finished: dict[str, dict] = {}  # executionArn -> {status, stopDate, stateMachineArn, error?, cause?}
        # Executions a stop reached moto for (200): moto's executions never end on their own (a one-hour Wait),
        # so these, and the finished ones, are exactly the executions that are not RUNNING.
        # Each with the stop that reached moto (time, error, cause), which moto does not keep: the history shim
        # reads it back.
        self.aborted: dict[str, dict] = {}
        self.lock = threading.Lock()

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

    def status_of(self, request) -> str | None:
        """The execution's status if it is known not to be RUNNING (finished in the overlay, or stopped through
        this proxy), else None (the stop is forwarded). Known here, not asked of moto, so the shim costs moto no
        extra call per stop."""
        arn = request.get("executionArn") if isinstance(request, dict) else None
        if not isinstance(arn, str):
            return None
        with self.lock:
            end = self.finished.get(arn)
            if end is not None:
                return end["status"]
            return "ABORTED" if arn in self.aborted else None

    def stopped(self, request) -> None:
        """A stop of this request's execution reached moto and succeeded."""
        if isinstance(request, dict):
            stop = {"time": time.time(), "error": request.get("error"), "cause": request.get("cause")}
            with self.lock:
                self.aborted[request.get("executionArn")] = stop

    def stop_of(self, arn: str) -> dict | None:
        """The stop that ended this execution through the proxy ({time, error, cause}), if one did."""
        with self.lock:
            return self.aborted.get(arn)

    def finished_of(self, arn: str) -> dict | None:
        """How a test finished this execution in the overlay ({status, stopDate, ...}), if it did."""
        with self.lock:
            return self.finished.get(arn)

    def forget_stops(self) -> None:
        with self.lock:
            self.aborted.clear()

    def list_executions(self, h, request):
        """ListExecutions of a state machine with finished executions in the overlay: moto's whole list (in its
        order, newest start first) with the overlay applied, then filtered and paged here. None when the overlay
        holds none of the machine's executions (moto answers as it is)."""
        if not isinstance(request, dict) or not isinstance(request.get("stateMachineArn"), str):
            return None
        machine, token = request["stateMachineArn"], request.get("nextToken")
        ours = isinstance(token, str) and token.startswith(_OVERLAY_TOKEN)
        with self.lock:
            touched = any(e["stateMachineArn"] == machine for e in self.finished.values())
        if not touched and not ours:
            return None
        executions, next_token = [], None
        while True:
            page = {"stateMachineArn": machine, "maxResults": 1000, **({"nextToken": next_token} if next_token else {})}
            status, out = sfn_call(h, SFN_LIST, page)
            if status != 200:
                return status, SFN_JSON, json.dumps(out).encode()
            executions += [self.ended(e) for e in out.get("executions", [])]
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

    def serve_finish(self, h) -> bool:
        """`POST /_finish {"executionArn", "status": SUCCEEDED|FAILED|TIMED_OUT, "error"?, "cause"?}` ends a
        RUNNING execution in the overlay; `GET /_finish` lists the overlay, `DELETE /_finish` clears it."""
        if urllib.parse.urlsplit(h.path).path != "/_finish":
            return False
        if h.command in ("GET", "DELETE"):
            with self.lock:
                out = dict(self.finished)
                if h.command == "DELETE":
                    self.finished.clear()
            h.send_json(200, out)
            return True
        request = parse_json(h.read_body())
        arn = request.get("executionArn") if isinstance(request, dict) else None
        end = request.get("status", "SUCCEEDED") if isinstance(request, dict) else None
        if not isinstance(arn, str) or end not in FINISH_STATUSES:
            h.send_json(400, {"message": f"expected {{executionArn, status: one of {FINISH_STATUSES}}}"})
            return True
        status, described = sfn_call(h, SFN_DESCRIBE, {"executionArn": arn, "includedData": "METADATA_ONLY"})
        if status != 200:
            h.send_json(status, described)
            return True
        current = self.ended(described)["status"]
        if current != "RUNNING":
            h.send_json(409, {"message": f"{arn} is {current}, not RUNNING"})
            return True
        entry = {"status": end, "stopDate": time.time(), "stateMachineArn": described["stateMachineArn"],
                 "error": request.get("error"), "cause": request.get("cause")}
        with self.lock:
            self.finished[arn] = entry
        h.send_json(200, {"executionArn": arn, "status": end, "stopDate": entry["stopDate"]})
        return True
