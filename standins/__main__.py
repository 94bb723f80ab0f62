"""The command line for people: `python -m standins COMMAND --state FILE ...`, run from the repository root.

  up --state FILE [--until-stdin-eof]    start all, write FILE (and print it as one line), run until stopped
  down --state FILE                      stop a running `up` and its children
  sfn-start / sfn-status / sfn-finish / sfn-recorded / durable-start / durable-status / durable-list /
  durable-recorded / durable-pause / durable-alias / alarm-put / alarm-state / alarm-actions / ssm-put /
  events-setup / events-read / reset     (see `python -m standins COMMAND --help`)

Every helper prints JSON on stdout; a failure is one line on stderr and exit code 1. What each stand-in is and
why: README.md beside this file."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .client import Standins
from .common import DEFAULT_FUNCTION, DEFAULT_REGION, HEALTH_TIMEOUT, HOST
from .durable_server import run_durable_server
from .shims.stop_after_end import FINISH_STATUSES
from .stack import cmd_down, cmd_up

PROG = "python -m standins"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Local AWS stand-ins for stop-gateway's tests")
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
    return p


def main(argv=None) -> int:
    a = parser().parse_args(argv)
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
        print(f"{PROG} {a.cmd}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
