"""The Python reference for the benchmark: the gateway's handler logic as a user would write it with boto3,
run under AWS's official Python runtime interface client (awslambdaric). Minimal but honest: it does the same
work per request as the Rust gateway on the benchmarked paths (parse the event shape, take the caller from the
IAM context, check the ARN strictly, evaluate a deny-by-default policy, describe then stop, write one audit line
and one audit event). Clients and policy are built once at init, as they should be.
"""
import fnmatch
import json
import os
import re
import time
import uuid

import boto3

ARN = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):states:([a-z]{2}(?:-[a-z]+)+-\d{1,2}):(\d{12}):execution:"
                 r"([^\s<>{}\[\]?*\"#%\\^|~`$&,;:/]{1,80}):([^\s<>{}\[\]?*\"#%\\^|~`$&,;:/]{1,80})$")
POLICY = json.loads(os.environ["POLICY"])
SFN = boto3.client("stepfunctions")
EVENTS = boto3.client("events")
BUS = os.environ.get("AUDIT_EVENT_BUS")


def respond(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def matches(rule, caller, account, machine, region, target_account):
    c, t = rule["callers"], rule["targets"]
    if "principals" in c and not any(fnmatch.fnmatchcase(caller, p) for p in c["principals"]):
        return False
    if "accounts" in c and c["accounts"] != ["*"] and account not in c["accounts"]:
        return False
    for field, value in (("accounts", target_account), ("regions", region)):
        if t[field] != ["*"] and value not in t[field]:
            return False
    return any(fnmatch.fnmatchcase(machine, n) for n in t["names"])


def evaluate(caller, account, machine, region, target_account, reason):
    rules = POLICY["rules"]
    for rule in (r for r in rules if r["effect"] == "deny"):
        if matches(rule, caller, account, machine, region, target_account):
            return None, f"rule {rule['id']} denies {caller}"
    for rule in (r for r in rules if r["effect"] == "allow"):
        if matches(rule, caller, account, machine, region, target_account):
            pattern = rule.get("reason", {}).get("pattern")
            if pattern and not re.search(pattern, reason):
                return None, f"rule {rule['id']} needs a reason matching {pattern}"
            return rule, f"rule {rule['id']} allows {caller}"
    return None, f"no allow rule matches {caller}; denied by default"


def handler(event, context):
    started = time.monotonic()
    audit_id = str(uuid.uuid4())
    iam = (event.get("requestContext", {}).get("authorizer") or {}).get("iam") or {}
    caller, account = iam.get("userArn"), iam.get("accountId")
    record = {"schemaVersion": 1, "auditId": audit_id, "lambdaRequestId": context.aws_request_id,
              "source": "apigw-http", "caller": caller}
    try:
        if not caller or not account:
            status, body = 401, {"error": {"code": "unauthenticated", "message": "no IAM identity"}}
        else:
            request = json.loads(event.get("body") or "")
            target, reason = request.get("targetArn", ""), (request.get("reason") or "").strip()
            m = ARN.match(target)
            record.update(target=target, reason=reason)
            if not m or not reason:
                status, body = 400, {"error": {"code": "invalid_request", "message": "bad targetArn or reason"}}
            else:
                _, region, target_account, machine, _ = m.groups()
                rule, rationale = evaluate(caller, account, machine, region, target_account, reason)
                record["decision"] = rationale
                if rule is None:
                    status, body = 403, {"error": {"code": "denied", "message": rationale}}
                else:
                    described = SFN.describe_execution(executionArn=target)
                    if described["status"] != "RUNNING":
                        status, body = 200, {"outcome": "already_finished", "previousStatus": described["status"]}
                    else:
                        stopped = SFN.stop_execution(executionArn=target, error=rule.get("error_codes", {}).get("default", "StopGateway.Stopped"),
                                                     cause=f"{reason}\n\n[stop-gateway] requested by {caller}; audit id {audit_id}")
                        status, body = 200, {"outcome": "stopped", "previousStatus": "RUNNING",
                                             "stoppedAt": stopped["stopDate"].isoformat()}
    except Exception as err:  # a reference handler still answers, like the gateway
        status, body = 502, {"error": {"code": "upstream_error", "message": type(err).__name__}}
    record.update(outcome=body.get("outcome") or body["error"]["code"], durationMs=int((time.monotonic() - started) * 1000))
    if BUS:
        EVENTS.put_events(Entries=[{"EventBusName": BUS, "Source": "stop-gateway", "DetailType": "Stop Gateway Decision",
                                    "Detail": json.dumps(record)}])
    print(json.dumps({"target": "audit", "audit": record}))
    body["auditId"] = audit_id
    return respond(status, body)
