"""Process management: `up` starts moto and the durable server as child processes on free ports, waits for their
health checks, starts both proxies, writes the state file (and prints it as one line), then runs until it is told
to stop and tears everything down; `down` stops a running `up` by the PIDs in its state file; `launch` does from
Python what a Rust test does (spawn `up --until-stdin-eof` and read its ready line).

Every child runs in its own process group and is stopped by PID; on Linux the kernel also SIGTERMs the children
when `up` dies (PR_SET_PDEATHSIG), so nothing outlives the test that started it."""
from __future__ import annotations

import atexit
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from .common import ACCOUNT_ID, DEFAULT_FUNCTION, HOST, StandinError, free_port, log
from .durable_adapter import DurableAdapterServer
from .moto_proxy import MotoProxyServer
from .proxy_base import ProxyServer

# The directory that holds this package: children import it from there whatever their working directory.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def module_command(*args: str) -> list[str]:
    """`python -m standins ARGS` with this interpreter."""
    return [sys.executable, "-m", __package__, *args]


def module_env(extra: dict | None = None) -> dict:
    """This process's environment plus `extra`, with the package importable (PYTHONPATH)."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    return env


def _pdeathsig_preexec():
    """A preexec_fn that, on Linux, has the kernel SIGTERM the child when `up` dies, even by SIGKILL.
    prctl is resolved here, in the parent: importing in the forked child is not safe."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _stop_group(proc: subprocess.Popen, name: str, grace: float = 5.0) -> None:
    """SIGTERM the child's process group, SIGKILL it after `grace` seconds."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            log(f"{name} (pid {proc.pid}) ignored {sig.name}")


class Stack:
    """The running stand-ins of one `up`."""

    def __init__(self, state_path: Path, region: str, log_dir: Path, timeout: float, stop: threading.Event):
        self.state_path, self.region, self.log_dir, self.timeout, self.stop = state_path, region, log_dir, timeout, stop
        self.children: dict[str, subprocess.Popen] = {}
        self.preexec = _pdeathsig_preexec()
        self.servers: list[ProxyServer] = []
        self._closed = False

    def _spawn(self, name: str, argv: list[str], log_path: Path) -> subprocess.Popen:
        with open(log_path, "ab") as logf:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                    start_new_session=True,  # own process group: killpg reaches its children
                                    preexec_fn=self.preexec, env=module_env(self._aws_env()))
        self.children[name] = proc
        return proc

    def _aws_env(self) -> dict:
        # Dummy credentials and region so nothing in the children ever looks for real ones.
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region, "PYTHONUNBUFFERED": "1"}

    def _start_all(self, specs: dict) -> dict:
        """Spawn every stand-in on a free port and wait (bounded, in parallel) for HTTP 200 on its health
        path. A child that exits early (e.g. its port was taken between choosing and binding it) is
        respawned, at most 3 times. Spawning happens on this (main) thread on purpose: PR_SET_PDEATHSIG
        fires when the forking *thread* exits. Returns {name: (port, seconds to healthy)}."""
        pending, done, attempts = {}, {}, {}

        def spawn(name):
            argv_of, _, log_path = specs[name]
            port = free_port()
            attempts[name] = attempts.get(name, 0) + 1
            pending[name] = (port, time.monotonic(), self._spawn(name, argv_of(port), log_path))

        for name in specs:
            spawn(name)
        while pending:
            if self.stop.is_set():
                raise StandinError(f"interrupted while waiting for stand-in(s) {', '.join(pending)}")
            for name, (port, t0, proc) in list(pending.items()):
                _, health, log_path = specs[name]
                if proc.poll() is not None:
                    log(f"stand-in '{name}' exited with code {proc.returncode} during startup "
                        f"(attempt {attempts[name]})")
                    if attempts[name] >= 3:
                        raise StandinError(f"stand-in '{name}' exited during startup 3 times; "
                                           f"log {log_path}:\n{_tail(log_path)}")
                    spawn(name)
                    continue
                try:
                    with urllib.request.urlopen(f"http://{HOST}:{port}{health}", timeout=2) as r:
                        if r.status == 200 and proc.poll() is None:  # alive: not someone else on the port
                            done[name] = (port, time.monotonic() - t0)
                            del pending[name]
                            continue
                except (OSError, http.client.HTTPException):
                    pass
                if time.monotonic() - t0 > self.timeout:
                    raise StandinError(f"stand-in '{name}' did not become healthy within {self.timeout:.0f} s "
                                       f"(GET http://{HOST}:{port}{health}); log {log_path}:\n{_tail(log_path)}")
            time.sleep(0.05)
        return done

    def start(self) -> dict:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        py = sys.executable
        moto_log, durable_log = self.log_dir / "moto.log", self.log_dir / "durable.log"
        for f in (moto_log, durable_log):
            f.unlink(missing_ok=True)  # logs of this run only (respawns append)
        ready = self._start_all({
            "moto": (lambda port: [py, "-m", "moto.server", "-H", HOST, "-p", str(port)],
                     "/moto-api/data.json", moto_log),
            "durable": (lambda port: module_command("_durable-server", "--host", HOST, "--port", str(port),
                                                    "--region", self.region), "/health", durable_log),
        })
        (moto_port, moto_s), (durable_port, durable_s) = ready["moto"], ready["durable"]

        moto_proxy = MotoProxyServer((HOST, moto_port))
        adapter = DurableAdapterServer((HOST, durable_port))
        for srv in (moto_proxy, adapter):
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
            self.servers.append(srv)

        url = lambda port: f"http://{HOST}:{port}"  # noqa: E731
        moto_url, proxy_url, adapter_url = url(moto_port), url(moto_proxy.port), url(adapter.port)
        state = {
            "version": 1,
            "pid": os.getpid(),
            "region": self.region,
            "account_id": ACCOUNT_ID,
            "durable_function_name": DEFAULT_FUNCTION,
            "moto": {"pid": self.children["moto"].pid, "port": moto_port, "endpoint": moto_url,
                     "log": str(moto_log), "startup_seconds": round(moto_s, 3)},
            "durable_server": {"pid": self.children["durable"].pid, "port": durable_port,
                               "endpoint": url(durable_port), "log": str(durable_log),
                               "startup_seconds": round(durable_s, 3)},
            "moto_proxy": {"pid": os.getpid(), "port": moto_proxy.port, "endpoint": proxy_url,
                           "recorded": f"{proxy_url}/_recorded"},
            "durable_adapter": {"pid": os.getpid(), "port": adapter.port, "endpoint": adapter_url,
                                "recorded": f"{adapter_url}/_recorded"},
            # What the code under test should use (AWS_ENDPOINT_URL_<SERVICE> names as the SDKs read them).
            "env": {
                "AWS_ENDPOINT_URL_SFN": proxy_url,
                "AWS_ENDPOINT_URL_LAMBDA": adapter_url,
                "AWS_ENDPOINT_URL_EVENTBRIDGE": moto_url,
                "AWS_ENDPOINT_URL_SQS": moto_url,
                "AWS_ENDPOINT_URL_SSM": moto_url,
                "AWS_ENDPOINT_URL_CLOUDWATCH": proxy_url,
                "AWS_ENDPOINT_URL_STS": moto_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
            },
        }
        # Atomic write: a reader polling for the file never sees half of it.
        tmp = self.state_path.with_name(self.state_path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.state_path)
        return state

    def check_children(self) -> str | None:
        for name, proc in self.children.items():
            if proc.poll() is not None:
                return f"stand-in '{name}' (pid {proc.pid}) exited unexpectedly with code {proc.returncode}"
        return None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()
        for name, proc in reversed(list(self.children.items())):
            _stop_group(proc, name)
        # Remove the state file only if it is ours (a newer `up` may have reused the path).
        try:
            if json.loads(self.state_path.read_text()).get("pid") == os.getpid():
                self.state_path.unlink()
        except (OSError, ValueError):
            pass


def cmd_up(args) -> int:
    state_path = Path(args.state).resolve()
    state_path.parent.mkdir(parents=True, exist_ok=True)
    log_dir = Path(args.log_dir).resolve() if args.log_dir else state_path.with_name(state_path.name + ".logs")
    stop = threading.Event()
    reason = {"why": "signal"}

    def on_signal(signum, _frame):
        reason["why"] = signal.Signals(signum).name
        stop.set()

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    stack = Stack(state_path, args.region, log_dir, args.timeout, stop)
    atexit.register(stack.close)  # also covers exceptions escaping below
    try:
        t0 = time.monotonic()
        state = stack.start()
        log(f"ready in {time.monotonic() - t0:.2f} s (moto {state['moto']['startup_seconds']} s, "
            f"durable server {state['durable_server']['startup_seconds']} s); state in {state_path}")
        print(json.dumps(state), flush=True)  # one line: a parent can read it instead of polling the file
        if args.until_stdin_eof:
            def watch_stdin():
                # os.read on the raw descriptor: a daemon thread blocked inside sys.stdin.buffer holds its lock
                # and makes interpreter shutdown abort with a fatal error when `up` is stopped by a signal.
                while os.read(sys.stdin.fileno(), 65536):  # returns b"" only at EOF
                    pass
                reason["why"] = "stdin closed"
                stop.set()

            threading.Thread(target=watch_stdin, daemon=True).start()
        while not stop.wait(0.5):
            died = stack.check_children()
            if died:
                log(died)
                return 1
        log(f"stopping ({reason['why']})")
        return 0
    except StandinError as e:
        log(str(e))
        return 1
    finally:
        stack.close()


def launch(state_path, *extra_args: str, timeout: float = 60.0) -> tuple[subprocess.Popen, dict]:
    """Python equivalent of what a Rust test does: spawn `up --until-stdin-eof` with a stdin pipe and
    read its ready line. Closing proc.stdin (or this process dying) stops everything."""
    import queue

    proc = subprocess.Popen(module_command("up", "--state", str(state_path), "--until-stdin-eof", *extra_args),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=module_env())
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        line = ""
    if not line:
        proc.kill()
        proc.wait()
        raise StandinError(f"`up` did not become ready: {proc.stderr.read()}")
    return proc, json.loads(line)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie (exited, not yet reaped) counts as gone
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def looks_like(pid: int, marker: str) -> bool:
    """Guard against PID reuse: check the command line where /proc exists."""
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return not os.path.isdir("/proc")
    except OSError:
        return True


def cmd_down(args) -> int:
    path = Path(args.state)
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        print(json.dumps({"stopped": [], "note": "no state file"}))
        return 0
    procs = [("up", state["pid"], "standins"), ("moto", state["moto"]["pid"], "moto"),
             ("durable", state["durable_server"]["pid"], "standins")]
    stopped = []
    up_pid = state["pid"]
    if alive(up_pid) and looks_like(up_pid, "standins"):
        os.kill(up_pid, signal.SIGTERM)  # `up` stops its own children
        deadline = time.monotonic() + 15
        while alive(up_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    # Whatever is still there (e.g. `up` was SIGKILLed on a system without PR_SET_PDEATHSIG): kill by group.
    for name, pid, marker in procs:
        if alive(pid) and looks_like(pid, marker):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pid, sig) if name != "up" else os.kill(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + 5
                while alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if not alive(pid):
                    break
        stopped.append({"name": name, "pid": pid, "alive": alive(pid)})
    path.unlink(missing_ok=True)
    print(json.dumps({"stopped": stopped}))
    return 1 if any(s["alive"] for s in stopped) else 0
