"""The durable server process: AWS's local durable-functions server (aws-durable-execution-sdk-python-testing
1.4.0) hosting our own `hold` durable function, in one Python process that `up` starts as
`python -m standins _durable-server` (its own process, so `up` can stop it, and everything it started, by
process group)."""
from __future__ import annotations

import signal
import sys


def run_durable_server(host: str, port: int, region: str) -> None:
    import logging

    from aws_durable_execution_sdk_python import DurableContext, durable_execution
    from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner
    from aws_durable_execution_sdk_python_testing.web.server import WebServer, WebServiceConfig

    @durable_execution
    def hold(event, context: DurableContext):
        # Waits on a callback nobody completes: the execution stays RUNNING until it is stopped
        # (or its ExecutionTimeoutSeconds passes).
        callback = context.create_callback(name="hold")
        return {"released": callback.result(), "input": event}

    WebServer.request_queue_size = 128  # as for our proxies (default listen backlog is 5)
    # skip_time=False: real clock, so nothing (timeouts, waits) completes early.
    runner = DurableFunctionTestRunner(hold, skip_time=False, region=region)
    # The runner exposes no public executor accessor; the web server needs the same one.
    server = WebServer(WebServiceConfig(host=host, port=port, log_level=logging.INFO), runner._executor)  # noqa: SLF001
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"durable server listening on {host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        runner.close()
