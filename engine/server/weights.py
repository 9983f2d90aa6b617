"""Kept weights on the engine's side: which role of a run has them, streaming a folder as a tar, garbage collection.

    run_weights(store, home, run_id)      # DataFrame: role, stage_key, kept, kind, bytes, files, path, note
    folder_of(store, home, run_id, role)  # the folder to send (LookupError with the reason when there is none)
    tar_chunks(folder, "r1a2b3-student")  # bytes of an uncompressed tar, file by file (never the whole in memory)
    collect(store, home, older_than_days=30, dry_run=True)   # what `w2s gc` removes

Weights live in <data home>/weights/<stage key>/ (written by the worker, engine.ml.weights) and the `weights` table
(migration 5). A folder is looked up from the stage key, never from a path a worker reported.
"""

from __future__ import annotations

import re
import shutil
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from engine import paths
from engine.discovery import pid_alive

CHUNK = 1 << 20


def _folder(home: Path, key: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{8,64}", key or ""):
        raise LookupError(f"'{key}' is not a stage key")
    return paths.weights_dir(home) / key


def _size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    return sum(p.stat().st_size for p in files), len(files)


def run_weights(store: Any, home: Path, run_id: str) -> pd.DataFrame:
    """Every role of the run: whether its stage's weights are kept, their kind, size and folder, or why not."""
    run = store.run(run_id) or {}
    asked = bool(((run.get("config") or {}).get("train") or {}).get("keep_weights"))
    df = store._df(
        "SELECT rs.role, rs.stage_key, rs.cached, s.kind AS stage_kind, s.status AS stage_status, w.kind, w.bytes, "
        "w.files, w.created, w.run_id AS kept_by FROM run_stages rs LEFT JOIN stages s ON s.key = rs.stage_key "
        "LEFT JOIN weights w ON w.stage_key = rs.stage_key AND s.status = 'done' WHERE rs.run_id = ? "
        "ORDER BY s.started, rs.role", [run_id])
    kept, where, notes = [], [], []
    for r in df.to_dict("records"):
        folder = _folder(home, r["stage_key"])
        has = isinstance(r["kind"], str) and folder.is_dir()
        kept.append(has)
        where.append(str(folder) if has else None)
        if has:
            notes.append("" if r["kept_by"] == run_id else f"kept by run {r['kept_by']}, which trained it")
        elif isinstance(r["kind"], str):
            notes.append("recorded, but the folder is gone (removed by hand)")
        elif r["stage_kind"] == "generation":
            notes.append("a generation stage trains nothing")
        elif r["stage_status"] != "done":
            notes.append(f"the stage is {r['stage_status'] or 'missing'}")
        elif r["cached"]:
            notes.append("reused from the cache; the run that trained it did not keep weights")
        else:
            notes.append("not kept: train.keep_weights was off" if not asked else "not kept")
    out = df.drop(columns=["stage_kind", "stage_status"])
    out.insert(2, "kept", kept)
    out["path"], out["note"] = where, notes
    return out


def folder_of(store: Any, home: Path, run_id: str, role: str) -> Path:
    df = run_weights(store, home, run_id)
    row = df[df["role"] == role]
    if row.empty:
        raise LookupError(f"run {run_id} has no role '{role}'; its roles: {', '.join(df['role']) or '(none)'}")
    if not bool(row["kept"].iloc[0]):
        raise LookupError(f"run {run_id}'s {role} has no kept weights: {row['note'].iloc[0]}. Fix: run with "
                          "train.keep_weights: true (a stage that is already in the cache keeps what it has)")
    return Path(row["path"].iloc[0])


def tar_chunks(folder: Path, name: str) -> Iterator[bytes]:
    """An uncompressed tar of `folder` under the top folder `name`, produced file by file."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        info = tarfile.TarInfo(f"{name}/{path.relative_to(folder).as_posix()}")
        stat = path.stat()
        info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o644
        yield info.tobuf(format=tarfile.PAX_FORMAT)
        with path.open("rb") as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                yield block
        if stat.st_size % tarfile.BLOCKSIZE:
            yield b"\0" * (tarfile.BLOCKSIZE - stat.st_size % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)  # end of archive


def collect(store: Any, home: Path, older_than_days: float | None = None, runs: list[str] | None = None,
            everything: bool = False, dry_run: bool = False) -> dict[str, Any]:
    """Remove kept weights: always the leftovers (half-written folders of dead workers, folders no row names, rows
    of stages that never finished), plus those older than `older_than_days`, those of `runs` (a stage another run
    also uses is kept unless `everything`), or all (`everything`). A stage that is training is never touched."""
    root = paths.weights_dir(home)
    stages = dict(store._rows("SELECT key, status FROM stages"))
    rows = {r[0]: r[1] for r in store._rows("SELECT stage_key, created FROM weights")}
    chosen = set(runs or [])
    links = store._rows("SELECT stage_key, run_id FROM run_stages")
    mine = {k for k, r in links if r in chosen}
    shared = {k for k, r in links if k in mine and r not in chosen}
    today = datetime.now(UTC).replace(tzinfo=None)  # the store writes naive UTC timestamps
    cutoff = today - timedelta(days=older_than_days) if older_than_days is not None else None
    removed: list[dict[str, Any]] = []

    def drop(key: str | None, folder: Path, reason: str) -> None:
        size, _ = _size(folder)
        removed.append({"stage_key": key, "folder": folder.name, "bytes": size, "reason": reason})
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
            if key is not None:
                store._write(lambda con: con.execute("DELETE FROM weights WHERE stage_key = ?", [key]))

    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        partial = re.fullmatch(r"\.partial-([0-9a-f]+)-(\d+)", folder.name)
        if partial:
            if not pid_alive(int(partial.group(2))):
                drop(None, folder, "half-written by a worker that is gone")
        elif folder.is_dir() and folder.name not in rows and stages.get(folder.name) != "running":
            drop(None, folder, "no stage records it")
    for key, created in rows.items():
        status = stages.get(key)
        reason = ("its stage never finished" if status not in ("done", "running") else
                  None if status == "running" else
                  "everything asked for" if everything else
                  f"older than {older_than_days:g} days" if cutoff is not None and created < cutoff else
                  "a run asked for" if key in mine and key not in shared else None)
        if reason:
            drop(key, _folder(home, key), reason)
    left = [k for k in rows if k not in {r["stage_key"] for r in removed}]
    return {"removed": removed, "freed": sum(r["bytes"] for r in removed), "kept": len(left),
            "kept_bytes": sum(_size(_folder(home, k))[0] for k in left), "dry_run": dry_run}
