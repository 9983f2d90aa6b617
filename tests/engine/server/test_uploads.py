"""engine.server.uploads on a real DuckDB store: ownership, references, and expiry that deletes the files."""

from __future__ import annotations

import time

import pytest
from fastapi import HTTPException

from engine.server.auth import OWNER, Caller
from engine.server.policy import Policy

DATA = b"text,label\n" + b"".join(b"row %d,%d\n" % (i, i % 2) for i in range(12))


def test_uploads_are_owned_referenced_and_expire(store, tmp_path, monkeypatch):
    from engine.server.uploads import Uploads

    monkeypatch.setenv("W2S_HOME", str(tmp_path))  # where an upload: reference resolves
    uploads = Uploads(store, tmp_path, Policy(public=True, upload_hours=1 / 3600, max_uploads=2))
    alice, bob = Caller("visitor", visitor="va"), Caller("visitor", visitor="vb")
    info, df = uploads.add("data.csv", DATA, alice)
    assert info["path"] == info["ref"] and info["ref"].startswith("upload:") and len(df) == 12
    assert uploads.owns(info["ref"], alice) and uploads.owns(info["ref"], OWNER)
    assert not uploads.owns(info["ref"], bob) and not uploads.owns("upload:../runs.duckdb", OWNER)
    uploads.add("other.csv", DATA + b"x,1\n", alice)
    with pytest.raises(HTTPException) as err:
        uploads.add("third.csv", DATA + b"y,0\n", alice)
    assert err.value.status_code == 429 and "W2S_MAX_UPLOADS" in err.value.detail
    time.sleep(1.2)
    assert not uploads.owns(info["ref"], alice)  # expired
    assert uploads.sweep() == 2 and not list((tmp_path / "uploads").iterdir())
    from engine.tasks._files import read_table
    from engine.tasks.base import TaskError

    with pytest.raises(TaskError, match="is no longer on the engine \\(uploads expire\\). Fix: upload it again"):
        read_table(info["ref"])


def test_local_mode_answers_the_server_path_and_keeps_uploads(store, tmp_path):
    from engine.server.uploads import Uploads

    uploads = Uploads(store, tmp_path, Policy())
    info, _ = uploads.add("data.csv", DATA, OWNER)
    assert info["path"] == str(tmp_path / "uploads" / info["ref"].removeprefix("upload:"))
    assert uploads.sweep() == 0 and (tmp_path / "uploads").is_dir()
    with pytest.raises(HTTPException) as err:
        Uploads(store, tmp_path, Policy(max_upload_mb=0.0001)).add("big.csv", DATA * 10, OWNER)
    assert err.value.status_code == 413
