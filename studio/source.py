"""What the studio shows, fetched through engine.client and shaped into DataFrames and dicts.

    src = Source(client)
    src.registry()                 # tasks, models, methods with their settings' field docs
    src.runs(status="running")     # DataFrame, one row per run
    src.run(run_id)                # dict: status, stages, live progress, error, log tail, metrics
    src.examples(run_id)           # DataFrame, one row per test example with every role's p(1)/correctness

Tabs talk to this module only, so the studio meets the engine's API in one place. Nothing here is
state of its own: a finished run's per-example table is kept in a small cache because it cannot change
(the engine never rewrites a done run's predictions); everything else is asked for on each call. In public mode
`visitor` (studio.session.Visitors.token) names the visitor of the event being handled, and every call acts for
them: the engine decides what they may see, the cache is consulted only after the engine said yes.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

import pandas as pd

from engine.api import TERMINAL

PAGE = 20_000  # rows per request when a whole table is fetched (one request for most runs)


def frame(table: Any) -> pd.DataFrame:
    """An engine.api Table/Page (or a dict shaped like one) as a DataFrame with its columns in order."""
    if table is None:
        return pd.DataFrame()
    if hasattr(table, "columns") and hasattr(table, "data"):
        columns, data = list(table.columns), table.data
    else:
        columns, data = list(table.get("columns", [])), table.get("data", {})
    return pd.DataFrame({c: data.get(c, []) for c in columns}, columns=columns)


def message(exc: BaseException) -> str:
    """The engine's one-line message for a failed call (never a stack trace)."""
    for attr in ("detail", "message"):
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if len(text) > 400 else text


def size_from_text(text: str) -> float | None:
    """A parameter count written in text: '583k params' -> 583e3, '124M' -> 124e6, '1.5B' -> 1.5e9."""
    match = re.search(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([kKMB])(?:\b|\s*params)", text)
    if not match:
        return None
    return float(match.group(1)) * {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9}[match.group(2)]


def _dump(obj: Any) -> Any:
    return obj.model_dump() if hasattr(obj, "model_dump") else obj


class Source:
    """The engine as the studio sees it. `client` is an engine.client.Client."""

    def __init__(self, client: Any, cache_runs: int = 6, visitor: Any = None):
        self._client = client
        self.visitor = visitor  # () -> the current visitor's token, or None (local mode: the owner)
        self._policy: dict[str, Any] | None = None
        self._registry: dict[str, Any] | None = None
        self._examples: OrderedDict[tuple[str, str], pd.DataFrame] = OrderedDict()
        self._cache_runs = cache_runs
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        token = self.visitor() if self.visitor is not None else None
        return self._client.as_visitor(token) if token else self._client

    def policy(self) -> dict[str, Any]:
        """The engine's mode and limits: {public, owner_login, limits: {max_seeds, ...}, export_hours, ...}."""
        if self._policy is None:
            getter = getattr(self._client, "policy", None)
            try:
                self._policy = _dump(getter()) if getter else {}
            except Exception:  # an engine from before public mode: local
                self._policy = {}
            self._policy.setdefault("public", False)
            self._policy.setdefault("limits", {})
        return self._policy

    def set_public(self, run_id: str, public: bool) -> dict[str, Any]:
        return _dump(self.client.set_public(run_id, public))

    # ------------------------------------------------------------------ catalogue
    def registry(self, refresh: bool = False) -> dict[str, Any]:
        """{tasks, models, methods: [{name, description, fields, extra}], train: [...], experiment: [...]}."""
        if self._registry is None or refresh:
            self._registry = _dump(self.client.registry())
        return self._registry

    def entries(self, kind: str) -> list[dict[str, Any]]:
        return list(self.registry()[kind])

    def entry(self, kind: str, name: str) -> dict[str, Any] | None:
        return next((e for e in self.entries(kind) if e["name"] == name), None)

    def model_sizes(self) -> dict[str, float]:
        """Parameter counts of registered models (for the PGR-vs-size grid): the registry's `params` when it
        gives one, else the size its description states ("59k params", "GPT-2 small, 124M", "Qwen2.5 1.5B")."""
        out = {}
        for e in self.entries("models"):
            params = (e.get("extra") or {}).get("params")
            if not (isinstance(params, int | float) and params > 0):
                params = size_from_text(e.get("description") or "")
            if params:
                out[e["name"]] = float(params)
        return out

    # ------------------------------------------------------------------ experiments
    def presets(self) -> dict[str, dict[str, Any]]:
        """Preset label -> config, as the engine ships them (demo first)."""
        return {p.label: p.config for p in self.client.presets()}

    def upload(self, path: str, name: str | None = None) -> dict[str, Any]:
        """Send a data file to the engine: {path (where the engine keeps it), columns, rows, preview (DataFrame)}."""
        from pathlib import Path

        reply = _dump(self.client.upload(name or Path(path).name, Path(path).read_bytes()))
        reply["preview"] = frame(reply.get("preview"))
        return reply

    def validate(self, config: dict[str, Any]) -> dict[str, Any]:
        """{ok, runs, specs} or raises with the engine's message."""
        return _dump(self.client.validate(config))

    def submit(self, config: dict[str, Any], tags: str | None = None) -> dict[str, Any]:
        return _dump(self.client.submit(config, tags=tags))

    def set_tags(self, run_id: str, tags: str | None) -> dict[str, Any]:
        return _dump(self.client.set_tags(run_id, tags))

    # ------------------------------------------------------------------ runs
    def runs(self, status: str | None = None, task: str | None = None, method: str | None = None) -> pd.DataFrame:
        df = frame(self.client.runs(status=status or None, task=task or None, method=method or None))
        return df

    def run(self, run_id: str) -> dict[str, Any] | None:
        if not run_id:
            return None
        try:
            return _dump(self.client.run(run_id))
        except Exception as exc:  # a run id the engine does not know (deleted database, typo in a URL)
            if "404" in str(exc) or "no run" in str(exc).lower() or "not found" in str(exc).lower():
                return None
            raise

    def metrics(self, run_id: str) -> dict[str, Any]:
        out = self.client.metrics(run_id)
        return dict(getattr(out, "metrics", out) or {})

    def curves(self, run_id: str) -> pd.DataFrame:
        return frame(self.client.curves(run_id))

    def log(self, run_id: str) -> str:
        out = self.client.log(run_id)
        return str(getattr(out, "text", out) or "")

    def export_runs(self, run_ids: list[str], fmt: str, folder: Any) -> str:
        """A zip in `folder` with runs.<fmt> (one row per run: config.* and metric columns) and predictions.<fmt>
        (every prediction of every role and split) of `run_ids`, as the engine exports them; its path."""
        import zipfile
        from pathlib import Path

        path = Path(folder) / f"w2s-runs-{len(run_ids)}.zip"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for what in ("runs", "predictions"):
                archive.writestr(f"{what}.{fmt}", self.client.export(what, fmt, run=list(run_ids)))
        return str(path)

    def cancel(self, run_id: str) -> Any:
        return self.client.cancel(run_id)

    def requeue(self, run_id: str) -> Any:
        return self.client.requeue(run_id)

    # ------------------------------------------------------------------ training dynamics and seed statistics
    def dynamics(self, run_id: str) -> pd.DataFrame:
        return frame(self.client.dynamics(run_id))

    def trajectory(self, run_id: str, example_id: str) -> pd.DataFrame:
        return frame(self.client.trajectory(run_id, example_id))

    def cartography(self, run_id: str, split: str = "test") -> pd.DataFrame:
        return frame(self.client.cartography(run_id, split=split))

    def seed_stats(self, metric: str = "pgr", task: str | None = None) -> pd.DataFrame:
        return frame(self.client.seed_stats(metric, task or None))

    def compare(self, a: str, b: str | None = None, metric: str = "pgr", task: str | None = None) -> pd.DataFrame:
        return frame(self.client.compare(a, b or None, metric, task or None))

    # ------------------------------------------------------------------ per-example outputs
    def page(self, run_id: str, split: str = "test", quadrant: str | None = None, offset: int = 0,
             limit: int = 200) -> tuple[pd.DataFrame, int]:
        """One page of a run's per-example rows (filtered by the engine), and how many rows match in all."""
        out = self.client.predictions(run_id, split=split, quadrant=quadrant or None, offset=offset, limit=limit)
        return frame(out), int(getattr(out, "total", 0))

    def examples(self, run_id: str, split: str = "test") -> pd.DataFrame:
        """Every per-example row of a run's split (cached once the run is finished: it cannot change)."""
        key = (run_id, split)
        run = self.run(run_id)  # first: the engine says whether this visitor may see the run at all
        if run is None:
            raise LookupError(f"no run '{run_id}'; pick one of your runs or a shared one")
        with self._lock:
            if key in self._examples:
                self._examples.move_to_end(key)
                return self._examples[key]
        parts, offset = [], 0
        while True:
            df, total = self.page(run_id, split=split, offset=offset, limit=PAGE)
            parts.append(df)
            offset += len(df)
            if df.empty or offset >= total:
                break
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if run and run.get("status") in TERMINAL:
            with self._lock:
                self._examples[key] = out
                while len(self._examples) > self._cache_runs:
                    self._examples.popitem(last=False)
        return out
