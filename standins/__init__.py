"""Local AWS stand-ins for stop-gateway's tests: moto and AWS's local durable-functions server, each behind a small
proxy so the code under test talks the real AWS APIs. Run from the repository root as `python -m standins`.

One file per part:
- `stack`: `up` and `down` (child processes, health checks, the state file) and `launch`;
- `moto_proxy` with `shims/`: the proxy in front of moto and what it stands in for (KMS refusals, stops after the
  end, CloudWatch's CBOR protocol, the recording of stops);
- `durable_adapter`: the real durable-execution REST API in front of the durable server;
- `durable_server`: that server's own process, hosting the `hold` function;
- `client`: the boto3 helper client for people; `__main__`: the command line over it;
- `proxy_base` and `common`: what the parts share.
"""
