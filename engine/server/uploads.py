"""Uploaded data files: kept content-addressed in the uploads folder, owned by whoever uploaded them, expiring
when the owner set a lifetime, and described (columns, rows, first rows) when they arrive.

    uploads = Uploads(store, home, policy)
    info, df = uploads.add("reviews.csv", data, caller)   # 422 when unreadable, 413 / 429 over a cap
    uploads.owns("upload:3f2a...-reviews.csv", caller) # may this caller's task read it?
    uploads.sweep()                                    # forget expired uploads, delete files nobody holds

A task names an upload as `upload:<name>` (engine.tasks._files resolves it inside the uploads folder). Local mode
also answers with the server path, which the CLI and a local studio may use; public mode answers only the reference.
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import HTTPException

from engine import paths
from engine.server.auth import Caller


class Uploads:
    def __init__(self, store: Any, home: Path, policy: Any):
        self.store, self.home, self.policy = store, Path(home), policy
        self.folder = paths.uploads_dir(self.home)

    def add(self, name: str, data: bytes, caller: Caller) -> tuple[dict[str, Any], Any]:
        """Store the file and record who owns it: (what to answer besides the description, its table)."""
        from engine.tasks._files import FORMATS, UPLOAD, read_table
        from engine.tasks.base import TaskError

        limit = self.policy.max_upload_bytes
        if len(data) > limit:
            raise HTTPException(413, f"{name} is {len(data) / 2**20:.1f} MB; this server takes files up to "
                                     f"{self.policy.max_upload_mb:g} MB (owner setting W2S_MAX_UPLOAD_MB)")
        if not caller.is_owner and self.policy.max_uploads and \
                self.store.uploads_of(caller.owner_id) >= self.policy.max_uploads:
            raise HTTPException(429, f"you have {self.policy.max_uploads} uploads on this server, its limit (owner "
                                     "setting W2S_MAX_UPLOADS); wait until older ones expire")
        safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in Path(name).name).strip(".-") or "data"
        suffix = Path(safe.lower().removesuffix(".gz")).suffix
        if suffix not in FORMATS:
            raise HTTPException(422, f"{name}: unknown file type; upload a .csv, .tsv, .jsonl, .json or .parquet "
                                     "file (optionally .gz)")
        self.folder.mkdir(parents=True, exist_ok=True)
        stored = f"{hashlib.sha256(data).hexdigest()[:16]}-{safe}"
        dest = self.folder / stored
        if not dest.exists():
            tmp = dest.with_name(dest.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(dest)
        try:
            df = read_table(str(dest))
        except TaskError as exc:
            self._drop_if_unused(stored)
            raise HTTPException(422, str(exc).replace(str(dest), name)) from None
        hours = self.policy.upload_hours
        expires = None
        if hours:
            from engine.server.store import now

            expires = now() + timedelta(hours=hours)
        self.store.add_upload(stored, caller.owner_id, len(data), int(len(df)), expires)
        ref = UPLOAD + stored
        return {"name": name, "path": ref if self.policy.public else str(dest), "ref": ref, "bytes": len(data),
                "expires_in_hours": hours or None}, df

    def owns(self, ref: str, caller: Caller) -> bool:
        from engine.tasks._files import upload_name
        from engine.tasks.base import TaskError

        try:
            name = upload_name(ref)
        except TaskError:
            return False
        return self.store.upload_owned(name, None if caller.is_owner else caller.owner_id)

    def sweep(self) -> int:
        """Forget expired uploads and delete the files no live upload holds; how many files went."""
        if not self.policy.upload_hours or not self.folder.is_dir():
            return 0
        keep = set(self.store.expire_uploads())
        gone = 0
        for path in self.folder.iterdir():
            stale_part = path.name.endswith(".part") and time.time() - path.stat().st_mtime > 3600
            if (path.name not in keep and not path.name.endswith(".part")) or stale_part:
                path.unlink(missing_ok=True)
                gone += 1
        return gone

    def _drop_if_unused(self, stored: str) -> None:
        if not self.store.upload_owned(stored, None):
            (self.folder / stored).unlink(missing_ok=True)
