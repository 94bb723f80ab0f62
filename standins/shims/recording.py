"""Recording shim: every stop request a proxy receives, as it arrived (moto keeps no `error` or `cause`, and the
durable server rewrites the body), listed by `GET /_recorded` and cleared by `DELETE /_recorded`; and who made a
stop with assumed-role credentials, as moto's STS names that caller."""
from __future__ import annotations

import threading
import urllib.parse

from ..common import DEFAULT_REGION


class Recording:
    """The stop requests one proxy received, in order."""

    def __init__(self, on_clear=lambda: None):
        self.entries: list[dict] = []
        self.lock = threading.Lock()
        self.on_clear = on_clear  # what else a DELETE forgets

    def record(self, entry: dict) -> None:
        with self.lock:
            self.entries.append(entry)

    def serve(self, h) -> bool:
        """GET /_recorded lists the recorded stop requests; DELETE /_recorded clears them."""
        if urllib.parse.urlsplit(h.path).path != "/_recorded" or h.command not in ("GET", "DELETE"):
            return False
        with self.lock:
            out = list(self.entries)
            if h.command == "DELETE":
                self.entries.clear()
                self.on_clear()
        h.send_json(200, out)
        return True


class Callers:
    """Who made a call, when it was made with assumed-role credentials (moto's access keys for those start with
    ASIA): moto's GetCallerIdentity for the same access key, e.g. arn:aws:sts::222233334444:assumed-role/ROLE/SESSION.
    Moto identifies callers by access key and does not check signatures, so the caller's Authorization header
    answers for it. Cached per access key."""

    def __init__(self):
        self.known: dict[str, str] = {}  # assumed-role access key -> caller ARN
        self.lock = threading.Lock()

    def of(self, h) -> str | None:
        auth = h.headers.get("Authorization", "")
        key = auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else ""
        if not key.startswith("ASIA"):
            return None
        with self.lock:
            known = self.known.get(key)
        if known:
            return known
        region = auth.split("Credential=", 1)[1].split("/")[2] if auth.count("/") >= 3 else DEFAULT_REGION
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Authorization": auth.replace(f"/{region}/states/", f"/{region}/sts/")}
        status, _, data = h.upstream("POST", "/", b"Action=GetCallerIdentity&Version=2011-06-15", headers)
        text = data.decode(errors="replace")
        if status != 200 or "<Arn>" not in text:
            return None
        arn = text.split("<Arn>", 1)[1].split("</Arn>", 1)[0]
        with self.lock:
            self.known[key] = arn
        return arn
