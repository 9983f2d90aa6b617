"""What the studio shows, fetched through engine.client and shaped into DataFrames and dicts.

    src = Source(client)
    src.registry()                 # tasks, models, methods with their settings' field docs
    src.runs(status="running")     # DataFrame, one row per run
    src.run(run_id, curves=True, log=True)   # dict: status, stages, progress, error, config_key (+ curves, log)
    src.page(run_id, quadrant="student_fixed", search="red", order="weak_conf", counts=True)
                                   # one page filtered and sorted by the engine, the match count, the grid counts
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


def _unknown_run(exc: BaseException) -> bool:
    text = str(exc).lower()
    return getattr(exc, "status", None) == 404 or "404" in text or "no run" in text or "not found" in text


def _dump(obj: Any) -> Any:
    return obj.model_dump() if hasattr(obj, "model_dump") else obj


class Source:
    """The engine as the studio sees it. `client` is an engine.client.Client."""

    def __init__(self, client: Any, cache_runs: int = 6, visitor: Any = None):
        self._client = client
        self.visitor = visitor  # () -> the current visitor's token, or None (local mode: the owner)
        self._policy: dict[str, Any] | None = None
        self._registry: dict[str, Any] | None = None
        self._presets: dict[str, dict[str, Any]] | None = None
        self._examples: OrderedDict[tuple[str, str], pd.DataFrame] = OrderedDict()
        self._curves: OrderedDict[str, pd.DataFrame] = OrderedDict()
        self._configs: dict[str, Any] = {}  # run id -> resolved config (never changes)
        self._metrics: OrderedDict[str, dict[str, Any]] = OrderedDict()  # finished runs' metrics
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
        """Preset label -> config, as the engine ships them (demo first); kept, like the registry: they ship with the
        engine and do not change while it runs."""
        if self._presets is None:
            self._presets = {p.label: p.config for p in self.client.presets()}
        return self._presets

    def upload(self, path: str, name: str | None = None) -> dict[str, Any]:
        """Send a data file to the engine: {path (where the engine keeps it), columns, rows, preview (DataFrame)}."""
        from pathlib import Path

        reply = _dump(self.client.upload(name or Path(path).name, Path(path).read_bytes()))
        reply["preview"] = frame(reply.get("preview"))
        return reply

    def validate(self, config: dict[str, Any], full: bool = True) -> dict[str, Any]:
        """{ok, runs, specs, config_keys, duplicates} or raises with the engine's message; full=False checks keys,
        types and values only (what loading a YAML file needs: the CLI's own config_from_dict)."""
        return _dump(self.client.validate(config, full=full))

    def submit(self, config: dict[str, Any], tags: str | None = None, on_duplicate: str = "create") -> dict[str, Any]:
        """{sweep, run_ids, duplicates, skipped}; on_duplicate="refuse" raises (409) when a run already exists."""
        return _dump(self.client.submit(config, tags=tags, on_duplicate=on_duplicate))

    def delete(self, run_id: str, collect: bool = False) -> dict[str, Any]:
        with self._lock:
            for key in [k for k in self._examples if k[0] == run_id]:
                self._examples.pop(key)
            self._curves.pop(run_id, None)
            self._metrics.pop(run_id, None)
        return _dump(self.client.delete_run(run_id, collect=collect))

    def health(self) -> Any:
        return self.client.health()

    def set_tags(self, run_id: str, tags: str | None) -> dict[str, Any]:
        return _dump(self.client.set_tags(run_id, tags))

    # ------------------------------------------------------------------ runs
    def runs(self, status: str | None = None, task: str | None = None, method: str | None = None,
             configs: bool = False) -> pd.DataFrame:
        """One row per run, newest first, with its config_key (and its resolved config with configs=True)."""
        return frame(self.client.runs(status=status or None, task=task or None, method=method or None,
                                      configs=configs))

    def runs_with_configs(self, status: str | None = None, task: str | None = None,
                          method: str | None = None) -> pd.DataFrame:
        """Runs with a `config` column. A run's config never changes, so configs are asked for (one request with
        configs=True) only when a run appears that was not seen before; a poll costs the plain listing."""
        df = self.runs(status=status, task=task, method=method)
        if df.empty:
            return df.assign(config=[])
        with self._lock:
            unseen = [r for r in df["id"] if r not in self._configs]
        if unseen:
            full = self.runs(configs=True)
            with self._lock:
                self._configs.update(dict(zip(full["id"], full["config"])))
        with self._lock:
            return df.assign(config=[self._configs.get(r) for r in df["id"]])

    def run(self, run_id: str, curves: bool = False, log: bool = False) -> dict[str, Any] | None:
        """A run (None when the engine does not know it); with curves / log in the same request."""
        if not run_id:
            return None
        try:
            return _dump(self.client.run(run_id, curves=curves, log=log))
        except Exception as exc:  # a run id the engine does not know (deleted database, typo in a URL)
            if _unknown_run(exc):
                return None
            raise

    def metrics(self, run_id: str, final: bool = False) -> dict[str, Any]:
        """A run's metrics; `final` (the caller knows the run is done: its metrics cannot change) keeps them (not in
        public mode: there the engine is asked each time whether this visitor may see the run)."""
        with self._lock:
            if run_id in self._metrics and self.visitor is None:
                return self._metrics[run_id]
        out = self.client.metrics(run_id)
        out = dict(getattr(out, "metrics", out) or {})
        if final:
            with self._lock:
                self._metrics[run_id] = out
                while len(self._metrics) > 2000:
                    self._metrics.popitem(last=False)
        return out

    def curves(self, run_id: str) -> pd.DataFrame:
        """A run's training curves (kept once the run is finished: they cannot change; in public mode every call
        asks the engine, which decides whether this visitor may see the run)."""
        with self._lock:
            if run_id in self._curves and self.visitor is None:
                return self._curves[run_id]
        run = self.run(run_id, curves=True)
        df = frame((run or {}).get("curves"))
        if run and run.get("status") in TERMINAL:
            with self._lock:
                self._curves[run_id] = df
                while len(self._curves) > 4 * self._cache_runs:
                    self._curves.popitem(last=False)
        return df

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

    def analysis(self, run_id: str, metric: str = "pgr") -> dict[str, Any] | None:
        """{run, dynamics, seeds, paired}: the run (a dict), its training dynamics, the statistics across seeds of its
        task's setups and (once it is done, else empty) its method against every other on the same seeds, as
        DataFrames, in one request; None when the engine does not know the run."""
        try:
            out = self.client.analysis(run_id, metric)
        except Exception as exc:
            if _unknown_run(exc):
                return None
            raise
        return {"run": _dump(out.run), "dynamics": frame(out.dynamics), "seeds": frame(out.seeds),
                "paired": frame(out.paired)}

    def seed_stats(self, metric: str = "pgr", task: str | None = None) -> pd.DataFrame:
        return frame(self.client.seed_stats(metric, task or None))

    def compare(self, a: str, b: str | None = None, metric: str = "pgr", task: str | None = None) -> pd.DataFrame:
        return frame(self.client.compare(a, b or None, metric, task or None))

    # ------------------------------------------------------------------ per-example outputs
    def page(self, run_id: str, split: str = "test", quadrant: str | None = None, offset: int = 0,
             limit: int = 200, **filters: Any) -> tuple[pd.DataFrame, int]:
        """One page of a run's per-example rows (filtered by the engine), and how many rows match in all."""
        df, total, _ = self.inspect(run_id, split=split, quadrant=quadrant, offset=offset, limit=limit, **filters)
        return df, total

    def inspect(self, run_id: str, split: str = "test", quadrant: str | None = None, offset: int = 0,
                limit: int = 200, region: str | None = None, deception: bool = False, search: str | None = None,
                order: str | None = None, compare: str | None = None, disagree: bool = False,
                counts: bool = False) -> tuple[pd.DataFrame, int, dict[str, Any] | None]:
        """One page filtered, searched and sorted by the engine, the number of matching rows and (counts=True) the
        split's quadrant / region counts: everything one Inspector view shows, in one request."""
        out = self.client.predictions(run_id, split=split, quadrant=quadrant or None, offset=offset, limit=limit,
                                      region=region or None, deception=deception, search=search or None,
                                      order=order or None, compare=compare or None, disagree=disagree, counts=counts)
        return frame(out), int(getattr(out, "total", 0)), _dump(getattr(out, "counts", None))

    def examples(self, run_id: str, split: str = "test") -> pd.DataFrame:
        """Every per-example row of a run's split (cached once the run is finished: it cannot change)."""
        key = (run_id, split)
        if self.visitor is None:  # local mode: the owner may see every run, a kept table needs no request
            with self._lock:
                if key in self._examples:
                    self._examples.move_to_end(key)
                    return self._examples[key]
        run = self.run(run_id)  # public mode, first: the engine says whether this visitor may see the run at all
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
