"""Per-run worker tokens: a worker holds a token that lets it act for its one run and nothing else.

    tokens = RunTokens(home)             # the signing key lives in $W2S_HOME/worker.secret (mode 0600)
    token = tokens.issue("r123")         # "run.r123.<signature>": what the scheduler hands the run's worker
    tokens.run_of(token)                 # "r123", or None when the token is not a valid run token
    run_may("POST", "/api/runs/r123/events", "r123")   # True: the routes a run token opens (see WORKER_ROUTES)

A run token opens only what a worker needs: its own run (read its config), its events, its stage claims and the stage
cache. The signature is an HMAC-SHA256 of the run id, so the engine checks a token without storing any, and the key
persists across engine restarts: a worker that outlives an engine (a Ray actor the next engine adopts) keeps a
valid token. The engine's own token (engine.json) is still what clients use for everything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from engine import paths

PREFIX = "run."
RUN_ID = r"[A-Za-z0-9_-]+"
# (method, path pattern with {run} for the token's own run id)
WORKER_ROUTES = (
    ("GET", r"/api/runs/{run}"),
    ("POST", r"/api/runs/{run}/events"),
    ("POST", r"/api/runs/{run}/stages/[0-9a-f]+/claim"),
    ("GET", r"/api/stages/[0-9a-f]+"),
)


def run_may(method: str, path: str, run_id: str) -> bool:
    """True when a worker holding run `run_id`'s token may call `method path`."""
    for allowed_method, pattern in WORKER_ROUTES:
        if method == allowed_method and re.fullmatch(pattern.replace("{run}", re.escape(run_id)), path):
            return True
    return False


class RunTokens:
    """Issues and checks per-run worker tokens with a key kept in the data directory."""

    def __init__(self, home: Path):
        self.key = self._load_key(paths.worker_secret(home))

    @staticmethod
    def _load_key(path: Path) -> bytes:
        try:
            return bytes.fromhex(path.read_text().strip())
        except (OSError, ValueError):
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex())
        try:
            os.link(tmp, path)  # first writer wins: two engines starting at once agree on one key
        except FileExistsError:
            key = bytes.fromhex(path.read_text().strip())
        finally:
            tmp.unlink()
        return key

    def _sign(self, run_id: str) -> str:
        mac = hmac.new(self.key, f"run:{run_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self, run_id: str) -> str:
        if not re.fullmatch(RUN_ID, run_id):
            raise ValueError(f"run id {run_id!r} has characters a token cannot carry")
        return f"{PREFIX}{run_id}.{self._sign(run_id)}"

    def run_of(self, token: str) -> str | None:
        if not token.startswith(PREFIX) or token.count(".") != 2:
            return None
        _, run_id, signature = token.split(".")
        return run_id if hmac.compare_digest(signature, self._sign(run_id)) else None
