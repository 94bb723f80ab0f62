"""The helper client for people: `Standins.load(state_file)` reads a running set of stand-ins and drives them with
boto3 (start executions, read statuses, set alarms, read the audit queue) and with the proxies' own endpoints
(`/_recorded`, `/_finish`, `/_pause`, `/_aliases/...`). Each method is one command of `python -m standins`.

The Rust tests do not use it: they read the same endpoints through the Rust SDK and plain HTTP
(testkit's `standins.rs`), so a query costs no Python process."""
from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from pathlib import Path

from .common import ACCOUNT_ID, DEFAULT_FUNCTION, DUMMY_CREDS, DURABLE_API, StandinError, http_json, parse_json


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
                out.append(parse_json(m["Body"].encode()))
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
