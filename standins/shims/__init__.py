"""The moto proxy's shims: each stands in for one thing moto gets wrong or cannot show, named as such so a test
knows where the stand-in ends and moto begins.

- `kms`: executions of a `kms-encrypted` state machine refuse a stop carrying error or cause, as AWS does for an
  execution encrypted with a key the caller may not use;
- `stop_after_end`: the overlay of executions a test finished (`/_finish`), and stops of executions that already
  ended left as they are;
- `cbor`: CloudWatch's Smithy RPC v2 CBOR protocol (what the Rust SDK speaks) to moto's JSON protocol;
- `recording`: the stop requests as they arrived (`/_recorded`), with who made them;
- `history`: GetExecutionHistory from what the proxy knows (an `ExecutionAborted` event with the stop's error and
  cause), where moto answers a made-up history.
"""
