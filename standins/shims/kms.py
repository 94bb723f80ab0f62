"""KMS shim: moto has no KMS-encrypted executions. Executions of state machines whose name contains
KMS_ENCRYPTED_MARK behave as the StopExecution and DescribeExecution references describe an execution encrypted
with a customer-managed key that the caller may not use: a stop that carries `error` or `cause` (which Step
Functions would encrypt with the key) is refused with KmsAccessDeniedException, a stop with neither goes through;
a describe needs kms:Decrypt unless it asks for includedData=METADATA_ONLY."""
from __future__ import annotations

import json

KMS_ENCRYPTED_MARK = "kms-encrypted"


def _kms_encrypted(body) -> bool:
    arn = body.get("executionArn", "") if isinstance(body, dict) else ""
    parts = arn.split(":")
    return len(parts) >= 7 and parts[5] == "execution" and KMS_ENCRYPTED_MARK in parts[6]


def kms_refusal(target: str, body) -> bytes | None:
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
