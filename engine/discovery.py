"""Finding the running engine: $W2S_HOME/engine.json (its URL, token, pid and instance id) and the checks that the
process it names is that very engine (its pid is alive and its open /api/ping answers with the same instance id,
so a stale file whose pid was reused is ignored). engine.client builds its clients on these."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from engine import paths


@dataclass(frozen=True)
class EngineInfo:
    url: str
    token: str
    pid: int
    db: str
    instance: str = ""
    public: bool = False


def pid_alive(pid: int) -> bool:
    """The process exists (a process of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_engine_file(home: str | Path | None = None) -> EngineInfo | None:
    """engine.json as written, or None when it is missing or damaged (a token that is not plain text, ...)."""
    path = paths.engine_file(Path(home) if home else None)
    try:
        raw = json.loads(path.read_text())
        info = EngineInfo(str(raw["url"]), str(raw["token"]), int(raw["pid"]), str(raw["db"]),
                          str(raw.get("instance") or ""), bool(raw.get("public")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not re.fullmatch(r"[A-Za-z0-9_-]+", info.token) or not re.fullmatch(r"https?://[\w.\-\[\]:]+", info.url):
        return None
    return info


def find_engine(home: str | Path | None = None) -> EngineInfo | None:
    """The engine described by engine.json in the data directory, if that very engine is running: its pid is
    alive and the process answering at its URL has its instance id (a pid alone may have been reused)."""
    info = read_engine_file(home)
    if info is None or not pid_alive(info.pid):
        return None
    return info if _same_instance(info) else None


def _same_instance(info: EngineInfo) -> bool:
    import httpx  # here, not at import: a command with no engine running (`w2s run`) never loads the HTTP stack

    try:
        resp = httpx.get(f"{info.url}/api/ping", timeout=3.0)
    except httpx.TimeoutException:
        return True  # something accepted the connection but is busy: assume it is the engine (DuckDB's lock decides)
    except httpx.HTTPError:
        return False  # nothing listens there: the file is stale
    if resp.status_code == 404 or not info.instance:
        return pid_alive(info.pid)  # an engine from before /api/ping, or a file without an instance id
    try:
        return resp.json().get("instance") == info.instance
    except ValueError:
        return False
