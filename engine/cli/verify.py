"""`w2s verify RUN`: re-execute a finished run with the stage cache off and check that every stored prediction
comes back.

    w2s verify RUN [--atol 1e-4]                  # the CLI; exit 0 = reproduced, 1 = not
    report = verify_run(store_or_engine_client, run_id, atol=1e-4)
    print(report.text()); report.ok

The run's stored config is rebuilt (engine.config.spec_from_dict) and executed in this process against a
scratch DuckDB in a temporary folder, so every stage trains afresh and nothing is read from or written to
the user's database or stage cache. Then every role of the run is compared with its re-executed twin, split
by split and example by example (joined by id):

- each probability within `atol` (default 1e-4: a rerun on the same machine is bit-identical; other
  hardware, thread counts or batch splits move float32 training by about 1e-6);
- each output record (completions, margins, rewards) equal: text exactly, numbers within `atol` relative
  to their size (a summed log-probability of -30 may move by 3e-3);
- the same example ids in every split; every run-level metric equal (numbers within the same tolerance).

A run whose stages were reused from other runs is checked against a run that trained everything itself: the
check a result should pass before it is published.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.cli._format import DB_HELP, fail, table

DEFAULT_ATOL = 1e-4


@dataclass
class RoleCheck:
    role: str
    split: str
    rows: int
    max_diff: float = 0.0
    over: int = 0  # rows whose probability moved by more than atol
    outputs: int = 0  # rows whose output record differs
    missing: int = 0  # ids in one run and not the other

    @property
    def ok(self) -> bool:
        return not (self.over or self.outputs or self.missing)


@dataclass
class VerifyReport:
    run_id: str
    atol: float
    checks: list[RoleCheck] = field(default_factory=list)
    metric_diffs: list[tuple[str, Any, Any]] = field(default_factory=list)
    roles_missing: list[str] = field(default_factory=list)
    n_metrics: int = 0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and not self.metric_diffs and not self.roles_missing

    def text(self) -> str:
        lines = [f"verify {self.run_id}: re-executed with the stage cache off (scratch database); tolerance "
                 f"|dp| <= {self.atol:g}, output numbers within {self.atol:g} x max(1, |x|), text exact", ""]
        lines.append(table([[c.role, c.split, c.rows, f"{c.max_diff:.2e}", c.over, c.outputs, c.missing,
                              "ok" if c.ok else "DIFFERS"] for c in self.checks],
                            ["role", "split", "rows", "max |dp|", "over tol", "outputs differ", "ids differ",
                             "verdict"]))
        if self.roles_missing:
            lines.append(f"\nroles in only one of the two runs: {', '.join(self.roles_missing)}")
        lines.append(f"\nmetrics: {self.n_metrics} compared, {len(self.metric_diffs)} differ")
        lines += [f"  {name}: stored {old!r}, re-executed {new!r}" for name, old, new in self.metric_diffs[:20]]
        lines.append("\nREPRODUCED: every stored prediction and metric came back" if self.ok else
                     "\nNOT REPRODUCED: the stored result differs from a fresh execution of its config")
        return "\n".join(lines)


def _run_dict(source: Any, run_id: str) -> dict[str, Any] | None:
    run = source.run(run_id)
    return run.model_dump() if hasattr(run, "model_dump") else run


def stored_result(source: Any, run_id: str) -> tuple[dict[str, Any], dict[str, dict], dict[str, Any]]:
    """(run, {role: {split: columns}}, run metrics) of a run, from a Store or an EngineClient."""
    run = _run_dict(source, run_id)
    if run is None:
        raise ValueError(f"no run '{run_id}'; list runs with `w2s runs`")
    preds = {s["role"]: source.stage_lookup(s["stage_key"]) or {} for s in run["stages"]}
    metrics = source.run_metrics(run_id) if hasattr(source, "run_metrics") else source.metrics(run_id)
    return run, preds, metrics


def _close(a: Any, b: Any, atol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, int | float) or not isinstance(b, int | float):
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(_close(a[k], b[k], atol) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(_close(x, y, atol) for x, y in zip(a, b))
        return a == b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= atol * max(1.0, abs(a), abs(b))


def _record(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _rows(cols: dict[str, list]) -> dict[str, tuple[Any, Any]]:
    ids = cols.get("id", [])
    return dict(zip(ids, zip(cols.get("prob", []), cols.get("output") or [None] * len(ids))))


def compare(stored: dict[str, dict], fresh: dict[str, dict], atol: float) -> tuple[list[RoleCheck], list[str]]:
    """Per (role, split): how the re-executed predictions differ from the stored ones, joined by example id."""
    checks = []
    for role in sorted(set(stored) & set(fresh)):
        for split in sorted(set(stored[role]) | set(fresh[role])):
            a, b = _rows(stored[role].get(split, {})), _rows(fresh[role].get(split, {}))
            check = RoleCheck(role, split, len(a), missing=len(set(a) ^ set(b)))
            for i in set(a) & set(b):
                (pa, oa), (pb, ob) = a[i], b[i]
                na, nb = (float("nan") if p is None else float(p) for p in (pa, pb))
                if math.isnan(na) or math.isnan(nb):
                    check.over += not (math.isnan(na) and math.isnan(nb))
                else:
                    check.max_diff = max(check.max_diff, abs(na - nb))
                    check.over += abs(na - nb) > atol
                check.outputs += not _close(_record(oa), _record(ob), atol)
            checks.append(check)
    return checks, sorted(set(stored) ^ set(fresh))


def compare_metrics(stored: dict[str, Any], fresh: dict[str, Any], atol: float) -> tuple[int, list[tuple]]:
    names = sorted(set(stored) | set(fresh))
    diffs = [(n, stored.get(n), fresh.get(n)) for n in names if not _close(stored.get(n), fresh.get(n), atol)]
    return len(names), diffs


def verify_run(source: Any, run_id: str, atol: float = DEFAULT_ATOL, progress: bool = False) -> VerifyReport:
    """Re-execute `run_id` (read from `source`, a Store or an EngineClient) with the cache off and compare."""
    from engine.config import spec_from_dict
    from engine.run.execute import run_local
    from engine.server.store import Store

    run, stored, metrics = stored_result(source, run_id)
    if run.get("status") != "done":
        raise ValueError(f"run {run_id} is {run.get('status')}; only a finished (done) run can be verified")
    spec = spec_from_dict(run.get("config") or {})
    # The re-execution only checks the numbers: it keeps no weights and logs to no tracker.
    spec.train = dataclasses.replace(spec.train, keep_weights=False, report_to=[])
    with tempfile.TemporaryDirectory(prefix="w2s-verify-") as scratch:
        store = Store(Path(scratch) / "verify.duckdb")
        try:
            fresh_id, status, out = run_local(spec, store, progress=progress)
            if status != "done":
                raise ValueError(f"re-executing run {run_id} failed: {out}")
            _, fresh, fresh_metrics = stored_result(store, fresh_id)
        finally:
            store.close()
    checks, roles_missing = compare(stored, fresh, atol)
    n_metrics, metric_diffs = compare_metrics(metrics, fresh_metrics, atol)
    return VerifyReport(run_id, atol, checks, metric_diffs, roles_missing, n_metrics)


def cmd_verify(args: argparse.Namespace) -> int:
    """Re-execute a run in a scratch database and compare: exit 0 when every prediction came back, 1 when not."""
    from engine.client import EngineError
    from engine.plan import USER_ERRORS
    from engine.reading import ReadError, engine_client, open_store

    try:
        engine = engine_client(args.db)
        source = engine if engine is not None else open_store(args.db)
        if engine is None:  # read the stored result, then let go of the file while the run re-executes
            snapshot = stored_result(source, args.run)
            source.close()
            source = _Snapshot(args.run, *snapshot)
        report = verify_run(source, args.run, atol=args.atol, progress=not args.quiet)
    except (ValueError, EngineError, ReadError, *USER_ERRORS) as exc:
        return fail(str(exc))
    print(report.text())
    return 0 if report.ok else 1


class _Snapshot:
    """A stored run read once (run, predictions by role, metrics), answering what verify_run asks of a store."""

    def __init__(self, run_id: str, run: dict, preds: dict, metrics: dict):
        self.run_id, self._run, self._metrics = run_id, run, metrics
        self._preds = {s["stage_key"]: preds[s["role"]] for s in run["stages"]}

    def run(self, run_id: str) -> dict:
        return self._run

    def stage_lookup(self, key: str) -> dict:
        return self._preds[key]

    def run_metrics(self, run_id: str) -> dict:
        return self._metrics


def add_commands(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("verify", help="re-execute a finished run with the stage cache off and compare every "
                                      "stored prediction (exit 0: reproduced, 1: not)")
    r.add_argument("run")
    r.add_argument("--atol", type=float, default=1e-4, help="largest allowed change of a probability (default 1e-4)")
    r.add_argument("--db", help=DB_HELP)
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(fn=cmd_verify)
