"""History shim: moto's GetExecutionHistory answers the same made-up history for every execution (a Pass state
and ExecutionSucceeded, even for one that is RUNNING or was stopped), and moto keeps no stop's error or cause.
The real service records a stop as an `ExecutionAborted` event whose details carry the stop's error and cause.

So the proxy answers GetExecutionHistory itself, from what it knows: `ExecutionStarted` (from moto's
DescribeExecution), then `ExecutionAborted` with the error and cause of the stop that reached moto through the
proxy (none when the stop carried none, as after a KMS fallback), or the end a test gave it with `/_finish`.
Newest first with `reverseOrder`, as the real API does; one page."""
from __future__ import annotations

import json

from .stop_after_end import SFN_DESCRIBE, SFN_JSON, sfn_call

SFN_HISTORY = "AWSStepFunctions.GetExecutionHistory"
_END_EVENTS = {"SUCCEEDED": ("ExecutionSucceeded", "executionSucceededEventDetails"),
               "FAILED": ("ExecutionFailed", "executionFailedEventDetails"),
               "TIMED_OUT": ("ExecutionTimedOut", "executionTimedOutEventDetails")}


def execution_history(h, overlay, request: dict):
    """(status, headers, body) of GetExecutionHistory for the execution `request` names."""
    arn = request.get("executionArn") if isinstance(request, dict) else None
    status, described = sfn_call(h, SFN_DESCRIBE, {"executionArn": arn})
    if status != 200:
        return status, SFN_JSON, json.dumps(described).encode()
    events = [{"timestamp": described["startDate"], "type": "ExecutionStarted", "id": 1, "previousEventId": 0,
               "executionStartedEventDetails": {"input": described.get("input", "{}"),
                                                "inputDetails": {"truncated": False},
                                                "roleArn": "arn:aws:iam::123456789012:role/standins"}}]
    stop, finished = overlay.stop_of(arn), overlay.finished_of(arn)
    if stop is not None:
        details = {k: stop[k] for k in ("error", "cause") if stop.get(k) is not None}
        events.append({"timestamp": stop["time"], "type": "ExecutionAborted", "id": 2, "previousEventId": 1,
                       "executionAbortedEventDetails": details})
    elif finished is not None and finished["status"] in _END_EVENTS:
        kind, field = _END_EVENTS[finished["status"]]
        events.append({"timestamp": finished["stopDate"], "type": kind, "id": 2, "previousEventId": 1, field: {}})
    if request.get("reverseOrder"):
        events.reverse()
    return 200, SFN_JSON, json.dumps({"events": events}).encode()
