#!/usr/bin/env python3
"""End-to-end check of the stand-ins: `python -m standins up` is spawned as a process, the way a Rust
integration test spawns it; the helpers are called through the command line for people (so it is checked too);
and the code under test is played by boto3 clients pointed at the endpoints of the state file (real API shapes,
dummy credentials).

Run: <repo>/.venv/bin/python standins/selftest.py      (exit code 0 only if every check passed)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import botocore.exceptions

# The package, not this file's folder, on the path: the folder's modules would otherwise import as top-level ones.
sys.path[0] = str(Path(__file__).resolve().parent.parent)
from standins.common import REAL_ARN_RE  # noqa: E402
from standins.stack import alive, launch, module_command, module_env  # noqa: E402

STANDINS = module_command()
os.environ["PYTHONPATH"] = module_env()["PYTHONPATH"]  # every `python -m standins` below finds the package

results: list[tuple[bool, str]] = []


def check(name: str, ok: bool, detail="") -> bool:
    results.append((bool(ok), name))
    print(f"{'PASS' if ok else 'FAIL'}  {name}" + ("" if ok else f"\n      got: {detail}"), flush=True)
    return bool(ok)


def cli(*args, state: Path):
    t0 = time.monotonic()
    p = subprocess.run([*STANDINS, args[0], "--state", str(state), *args[1:]], capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"standins {args[0]} failed ({p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout), time.monotonic() - t0


def raw(method: str, url: str, body=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"null")


def client(service: str, endpoint: str, region: str):
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def error_code(fn) -> tuple[str | None, int | None]:
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, None


def start_up(state: Path, *extra) -> tuple[subprocess.Popen, dict, float]:
    t0 = time.monotonic()
    proc, st = launch(state, *extra)
    return proc, st, time.monotonic() - t0


def standin_pids() -> set[int]:
    """PIDs of any stand-in child on this machine (to prove a failed start leaves none behind)."""
    out = set()
    for d in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if b"moto.server" in cmd or b"_durable-server" in cmd:
            out.add(int(d.name))
    return out


def check_sfn(st: dict, state: Path) -> None:
    print("-- Step Functions (moto behind the recording proxy)")
    out, dt = cli("sfn-start", "--count", "2", state=state)
    a, b = out["executionArns"]
    print(f"      sfn-start: 2 executions in {dt:.2f} s")
    sfn = client("stepfunctions", st["env"]["AWS_ENDPOINT_URL_SFN"], st["region"])
    check("sfn: new executions are RUNNING", cli("sfn-status", a, state=state)[0]["status"] == "RUNNING")
    resp = sfn.stop_execution(executionArn=a, error="StopGateway.Stopped", cause='{"reason":"test"}')
    check("sfn: StopExecution through the proxy -> 200 with stopDate",
          resp["ResponseMetadata"]["HTTPStatusCode"] == 200 and "stopDate" in resp, resp)
    status = cli("sfn-status", a, state=state)[0]
    check("sfn: stopped execution is ABORTED", status["status"] == "ABORTED", status)
    check("sfn: other execution still RUNNING", cli("sfn-status", b, state=state)[0]["status"] == "RUNNING")
    rec = cli("sfn-recorded", state=state)[0]
    check("sfn: proxy recorded the StopExecution body (error, cause)",
          len(rec) == 1 and rec[0]["body"] == {"executionArn": a, "error": "StopGateway.Stopped",
                                                "cause": '{"reason":"test"}'} and rec[0]["status"] == 200, rec)
    unknown = a.rsplit(":", 1)[0] + ":does-not-exist"
    check("sfn: stop of an unknown execution -> 400 ExecutionDoesNotExist",
          error_code(lambda: sfn.stop_execution(executionArn=unknown)) == ("ExecutionDoesNotExist", 400))


def check_sfn_finished(st: dict, state: Path) -> None:
    print("-- Step Functions: finished executions (the moto proxy's stop-after-end shim)")
    out, _ = cli("sfn-start", "--count", "4", "--name", "selftest-finished", state=state)
    done, failed, running, aborted = out["executionArns"]
    machine = out["stateMachineArn"]
    sfn = client("stepfunctions", st["env"]["AWS_ENDPOINT_URL_SFN"], st["region"])
    fin, _ = cli("sfn-finish", done, state=state)
    check("sfn-finish: a RUNNING execution -> SUCCEEDED with a stopDate",
          fin["status"] == "SUCCEEDED" and isinstance(fin["stopDate"], float), fin)
    cli("sfn-finish", failed, "--status", "FAILED", state=state)
    d = sfn.describe_execution(executionArn=done, includedData="METADATA_ONLY")
    check("sfn-finish: DescribeExecution says SUCCEEDED, with its stopDate",
          d["status"] == "SUCCEEDED" and abs(d["stopDate"].timestamp() - fin["stopDate"]) < 0.01, d)
    by_status = lambda status: sorted(e["executionArn"] for e in  # noqa: E731
                                      sfn.list_executions(stateMachineArn=machine, statusFilter=status)["executions"])
    check("sfn-finish: ListExecutions filters on the finished statuses",
          by_status("SUCCEEDED") == [done] and by_status("FAILED") == [failed]
          and by_status("RUNNING") == sorted([running, aborted]), (by_status("SUCCEEDED"), by_status("RUNNING")))
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    check("sfn-finish: unfiltered ListExecutions, newest start first, stopDate only on finished ones",
          [e["executionArn"] for e in listed] == [aborted, running, failed, done]
          and all(("stopDate" in e) == (e["status"] != "RUNNING") for e in listed), listed)
    pages, token = [], None
    while True:
        page = sfn.list_executions(stateMachineArn=machine, maxResults=1, **({"nextToken": token} if token else {}))
        pages.append([e["executionArn"] for e in page["executions"]])
        token = page.get("nextToken")
        if not token:
            break
    check("sfn-finish: ListExecutions pages (maxResults/nextToken) over the finished ones",
          pages == [[aborted], [running], [failed], [done]], pages)
    code = subprocess.run([*STANDINS, "sfn-finish", "--state", str(state), done], capture_output=True).returncode
    check("sfn-finish: an execution that is not RUNNING -> exit 1", code == 1)

    t0 = time.time()
    resp = sfn.stop_execution(executionArn=done, error="StopGateway.Stopped", cause="late")
    check("sfn shim: StopExecution of a SUCCEEDED execution -> 200 with a fresh stopDate",
          resp["ResponseMetadata"]["HTTPStatusCode"] == 200 and resp["stopDate"].timestamp() >= t0 - 1, resp)
    status = cli("sfn-status", done, state=state)[0]
    check("sfn shim: ... and it stays SUCCEEDED, its stopDate unchanged",
          status["status"] == "SUCCEEDED" and abs(status["stopDate"] - fin["stopDate"]) < 0.01, status)
    sfn.stop_execution(executionArn=failed)
    check("sfn shim: a FAILED execution stays FAILED", cli("sfn-status", failed, state=state)[0]["status"] == "FAILED")
    sfn.stop_execution(executionArn=running, error="StopGateway.Stopped")
    check("sfn shim: StopExecution of a RUNNING execution -> ABORTED",
          cli("sfn-status", running, state=state)[0]["status"] == "ABORTED")
    sfn.stop_execution(executionArn=aborted)
    first = cli("sfn-status", aborted, state=state)[0]
    time.sleep(0.05)
    sfn.stop_execution(executionArn=aborted)
    again = cli("sfn-status", aborted, state=state)[0]
    check("sfn shim: a second stop leaves an ABORTED execution's stopDate as it was",
          again["status"] == "ABORTED" and again["stopDate"] == first["stopDate"], (first, again))
    rec = [r for r in cli("sfn-recorded", state=state)[0] if r["body"]["executionArn"] in (done, failed, running)]
    check("sfn shim: every stop is recorded, the shimmed ones marked",
          [(r["body"]["executionArn"], r["status"], "shim" in r) for r in rec]
          == [(done, 200, True), (failed, 200, True), (running, 200, False)], rec)
    unknown = machine.replace(":stateMachine:", ":execution:") + ":does-not-exist"
    check("sfn shim: stop of an unknown execution still -> 400 ExecutionDoesNotExist",
          error_code(lambda: sfn.stop_execution(executionArn=unknown)) == ("ExecutionDoesNotExist", 400))


def check_durable(st: dict, state: Path) -> None:
    print("-- durable executions (AWS's local server behind the real-API adapter)")
    out, dt = cli("durable-start", "--count", "3", "--input", '{"order": 7}', state=state)
    arns = out["executionArns"]
    print(f"      durable-start: 3 executions in {dt:.2f} s")
    check("durable: start returns real-form ARNs (botocore's pattern)",
          len(arns) == 3 and all(REAL_ARN_RE.fullmatch(x) for x in arns), arns)
    a, b, c = arns
    # Give the handler time to reach its callback: it must still be RUNNING afterwards.
    time.sleep(0.5)
    got = cli("durable-status", a, state=state)[0]
    check("durable: new execution RUNNING, ARN echoed back", got["Status"] == "RUNNING"
          and got["DurableExecutionArn"] == a and got["InputPayload"] == '{"order": 7}', got)

    lam = client("lambda", st["env"]["AWS_ENDPOINT_URL_LAMBDA"], st["region"])
    err = {"ErrorMessage": "stopped by stop-gateway", "ErrorType": "StopGateway.Stopped",
           "ErrorData": '{"decision":"stop"}', "StackTrace": ["frame 1", "frame 2"]}
    t_before = time.time()
    resp = lam.stop_durable_execution(DurableExecutionArn=a, Error=err)
    stop_ts = resp["StopTimestamp"]
    check("durable: StopDurableExecution (boto3, bare ErrorObject body) -> 200 with a current StopTimestamp",
          resp["ResponseMetadata"]["HTTPStatusCode"] == 200 and abs(stop_ts.timestamp() - t_before) < 30, resp)
    g = lam.get_durable_execution(DurableExecutionArn=a)
    check("durable: stopped execution is STOPPED with the sent ErrorObject and an EndTimestamp",
          g["Status"] == "STOPPED" and g["Error"] == err and "EndTimestamp" in g, g)
    rec = cli("durable-recorded", state=state)[0]
    check("durable: adapter recorded the bare ErrorObject as sent on the wire",
          len(rec) == 1 and rec[0]["arn"] == a and rec[0]["body"] == err and rec[0]["status"] == 200
          and "%2F" in rec[0]["raw_path"] and rec[0]["content_type"] == "application/json", rec)
    again = lam.stop_durable_execution(DurableExecutionArn=a, Error={"ErrorMessage": "second"})
    check("durable: second stop -> 200 with the original StopTimestamp, Error unchanged",
          again["StopTimestamp"] == stop_ts and lam.get_durable_execution(DurableExecutionArn=a)["Error"] == err)
    check("durable: other executions still RUNNING",
          all(lam.get_durable_execution(DurableExecutionArn=x)["Status"] == "RUNNING" for x in (b, c)))

    # Raw wire shapes: field names and epoch-second numbers, as the real API sends them.
    url = f"{st['env']['AWS_ENDPOINT_URL_LAMBDA']}/2025-12-01/durable-executions/{urllib.parse.quote(a, safe='')}"
    s, h, body = raw("GET", url)
    check("durable: raw GetDurableExecution has real field names and epoch-number timestamps",
          s == 200 and {"DurableExecutionArn", "DurableExecutionName", "FunctionArn", "Status", "StartTimestamp",
                        "EndTimestamp", "Error"} <= body.keys()
          and all(isinstance(body[k], (int, float)) for k in ("StartTimestamp", "EndTimestamp")), body)
    s, h, body = raw("POST", url + "/stop", err)
    check("durable: raw StopDurableExecution -> {StopTimestamp: number}",
          s == 200 and isinstance(body.get("StopTimestamp"), (int, float)), body)

    unknown = a[: a.rindex("/") + 1] + "00000000-0000-4000-8000-000000000000"
    check("durable: unknown ARN (boto3 Get) -> ResourceNotFoundException 404",
          error_code(lambda: lam.get_durable_execution(DurableExecutionArn=unknown))
          == ("ResourceNotFoundException", 404))
    check("durable: unknown ARN (boto3 Stop) -> ResourceNotFoundException 404",
          error_code(lambda: lam.stop_durable_execution(DurableExecutionArn=unknown, Error=err))
          == ("ResourceNotFoundException", 404))
    s, h, body = raw("POST", f"{st['env']['AWS_ENDPOINT_URL_LAMBDA']}/2025-12-01/durable-executions/"
                             f"{urllib.parse.quote(unknown, safe='')}/stop", err)
    check("durable: raw 404 carries X-Amzn-ErrorType: ResourceNotFoundException",
          s == 404 and h.get("X-Amzn-ErrorType") == "ResourceNotFoundException", (s, dict(h), body))
    server_form = rec[0]["server_id"]  # the server's own `{uuid}/{uuid}` id is not a valid ARN
    check("durable: malformed ARN -> InvalidParameterValueException 400",
          error_code(lambda: lam.get_durable_execution(DurableExecutionArn=server_form))
          == ("InvalidParameterValueException", 400))

    fn = st["durable_function_name"]
    listed = lambda **kw: sorted(e["DurableExecutionArn"] for e in  # noqa: E731
                                 lam.list_durable_executions_by_function(FunctionName=fn, **kw)["DurableExecutions"])
    check("durable: list Statuses=[RUNNING] -> only the running ones", listed(Statuses=["RUNNING"]) == sorted([b, c]))
    check("durable: list Statuses=[STOPPED, RUNNING] -> all", listed(Statuses=["STOPPED", "RUNNING"]) == sorted(arns))
    check("durable: list StartedAfter (ISO 8601 from the SDK) works",
          listed(StartedAfter=t_before - 3600) == sorted(arns))
    page = lam.list_durable_executions_by_function(FunctionName=fn, MaxItems=2)
    check("durable: list pages with MaxItems/NextMarker",
          len(page["DurableExecutions"]) == 2 and page.get("NextMarker"), page.get("NextMarker"))

    # Versions, as the current model documents the qualifier; the pause shim; unencoded '/' refused.
    v1 = cli("durable-start", "--qualifier", "1", state=state)[0]["executionArns"][0]
    check("durable: an execution on version 1 has :1/ in its ARN", ":1/durable-execution/" in v1, v1)
    check("durable: unqualified list covers every version", v1 in listed(Statuses=["RUNNING"]))
    check("durable: Qualifier=1 lists only version 1", listed(Statuses=["RUNNING"], Qualifier="1") == [v1])
    check("durable: Qualifier=$LATEST leaves version 1 out", v1 not in listed(Qualifier="$LATEST"))
    check("durable: an alias qualifier is refused (the stand-in does not resolve aliases)",
          error_code(lambda: listed(Qualifier="live")) == ("InvalidParameterValueException", 400))
    cli("durable-pause", v1, state=state)
    check("durable: a paused execution is PAUSED and listed as such",
          lam.get_durable_execution(DurableExecutionArn=v1)["Status"] == "PAUSED"
          and listed(Statuses=["PAUSED"]) == [v1] and v1 not in listed(Statuses=["RUNNING"]))
    lam.stop_durable_execution(DurableExecutionArn=v1)
    check("durable: a paused execution stops", lam.get_durable_execution(DurableExecutionArn=v1)["Status"] == "STOPPED")
    s, h, body = raw("GET", f"{st['env']['AWS_ENDPOINT_URL_LAMBDA']}/2025-12-01/durable-executions/{b}")
    check("durable: an unencoded '/' in the ARN segment -> 400", s == 400, (s, body))
    cli("durable-alias", fn, "live", "1", "--weight", "2=0.25", state=state)
    alias = lam.get_alias(FunctionName=fn, Name="live")
    check("durable: GetAlias answers from the alias shim", alias["FunctionVersion"] == "1"
          and alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.25}, alias)


def check_events(st: dict, state: Path) -> None:
    print("-- EventBridge bus -> rule -> SQS (moto)")
    setup, _ = cli("events-setup", state=state)
    ev = client("events", st["env"]["AWS_ENDPOINT_URL_EVENTBRIDGE"], st["region"])
    detail = {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:x", "decision": "STOPPED"}
    put = ev.put_events(Entries=[
        {"EventBusName": setup["busName"], "Source": "stop-gateway", "DetailType": "Stop Gateway Decision",
         "Detail": json.dumps(detail)},
        {"EventBusName": setup["busName"], "Source": "stop-gateway", "DetailType": "Something Else",
         "Detail": "{}"},
    ])
    check("events: PutEvents accepted both entries", put["FailedEntryCount"] == 0, put)
    got, dt = cli("events-read", "--queue-url", setup["queueUrl"], "--expect", "1", "--timeout", "10", state=state)
    check("events: exactly the matching event arrived in SQS",
          len(got) == 1 and got[0]["detail-type"] == "Stop Gateway Decision" and got[0]["detail"] == detail
          and got[0]["source"] == "stop-gateway", got)
    print(f"      events-read: {len(got)} message(s) in {dt:.2f} s")
    code = error_code(lambda: ev.put_events(Entries=[{"EventBusName": "no-such-bus", "Source": "s",
                                                      "DetailType": "d", "Detail": "{}"}]))
    check("events: PutEvents to an unknown bus -> 400 ResourceNotFoundException",
          code == ("ResourceNotFoundException", 400), code)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="standins-selftest-"))
    state = tmp / "state.json"

    # 1. A failing start names the stand-in and leaves nothing behind.
    before = standin_pids()
    p = subprocess.run([*STANDINS, "up", "--state", str(tmp / "fail.json"), "--timeout", "0.01"],
                       capture_output=True, text=True, timeout=60)
    check("up: health-check timeout -> exit 1, error names the stand-in",
          p.returncode == 1 and "stand-in 'moto' did not become healthy" in p.stderr, p.stderr[-500:])
    check("up: failed start left no stand-in process behind", standin_pids() <= before, standin_pids() - before)

    # 2. The main run: spawned with a stdin pipe, as a Rust test would.
    proc, st, ready_s = start_up(state)
    print(f"startup: ready in {ready_s:.2f} s wall (incl. interpreter start); moto {st['moto']['startup_seconds']} s, "
          f"durable server {st['durable_server']['startup_seconds']} s to healthy")
    check("up: state file equals the ready line", json.loads(state.read_text()) == st)
    pids = [st["pid"], st["moto"]["pid"], st["durable_server"]["pid"]]
    try:
        for part in (check_sfn, check_sfn_finished, check_durable, check_events):
            try:
                part(st, state)
            except Exception as e:  # noqa: BLE001 - report and go on with the other parts
                check(f"{part.__name__}: ran without exception", False, repr(e))
    finally:
        t0 = time.monotonic()
        proc.stdin.close()  # what happens when the Rust test drops the child's stdin (or dies)
        try:
            rc = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = None
        time.sleep(0.2)
    check(f"up: exits on stdin EOF ({time.monotonic() - t0:.2f} s), rc 0", rc == 0, (rc, proc.stderr.read()))
    check("up: all stand-in processes gone", not any(alive(x) for x in pids), [x for x in pids if alive(x)])
    check("up: state file removed", not state.exists())

    # 3. `up` in the background, stopped with `down`.
    state2 = tmp / "state2.json"
    t0 = time.monotonic()
    proc2 = subprocess.Popen([*STANDINS, "up", "--state", str(state2)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not state2.exists() and proc2.poll() is None and time.monotonic() - t0 < 60:
        time.sleep(0.05)  # polling the state file: the other way to wait for readiness
    st2, ready2 = json.loads(state2.read_text()), time.monotonic() - t0
    print(f"startup (second run): ready in {ready2:.2f} s wall; moto {st2['moto']['startup_seconds']} s, "
          f"durable server {st2['durable_server']['startup_seconds']} s")
    pids2 = [st2["pid"], st2["moto"]["pid"], st2["durable_server"]["pid"]]
    d = subprocess.run([*STANDINS, "down", "--state", str(state2)], capture_output=True, text=True, timeout=60)
    proc2.wait(10)
    check("down: rc 0, all processes gone, state file removed",
          d.returncode == 0 and not any(alive(x) for x in pids2) and not state2.exists(), d.stdout + d.stderr)

    passed = sum(ok for ok, _ in results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
