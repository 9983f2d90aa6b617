"""Kept weights on the engine's side: each role says whether its weights are kept (or why not), a folder streams
as a tar that unpacks to the same files, and `collect` (w2s gc) removes exactly what it says."""

from __future__ import annotations

import io
import os
import tarfile

import pandas as pd
import pytest

from engine.server.weights import collect, folder_of, run_weights, tar_chunks
from tests.helpers import fake_run


def kept_folder(home, key, size=1000):
    folder = home / "weights" / key
    (folder / "sub").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(os.urandom(size))
    (folder / "sub" / "w2s.json").write_text("{}")
    return folder, {"path": str(folder), "bytes": size + 2, "kind": "model", "files": 2}


def test_each_role_says_whether_its_weights_are_kept_or_why_not(store, tmp_path):
    keys = {"weak": "a" * 24, "ceiling": "b" * 24, "student": "c" * 24}
    _, rec = kept_folder(tmp_path, keys["weak"])
    first, _ = fake_run(store, keys=keys, keep={"weak": rec})
    second, _ = fake_run(store, keys={"weak": keys["weak"], "ceiling": keys["ceiling"]}, keep={"student": rec})
    df = run_weights(store, tmp_path, first).set_index("role")
    assert df.loc["weak", "kept"] and df.loc["weak", "bytes"] == 1002 and df.loc["weak", "kind"] == "model"
    assert not df.loc["ceiling", "kept"] and pd.isna(df.loc["student", "path"])
    other = run_weights(store, tmp_path, second).set_index("role")
    assert other.loc["weak", "kept"] and other.loc["weak", "note"] == f"kept by run {first}, which trained it"
    assert other.loc["ceiling", "note"] == "reused from the cache; the run that trained it did not keep weights"
    assert other.loc["student", "note"] == "recorded, but the folder is gone (removed by hand)"
    assert folder_of(store, tmp_path, second, "weak") == tmp_path / "weights" / keys["weak"]
    with pytest.raises(LookupError, match="has no kept weights: reused from the cache"):
        folder_of(store, tmp_path, second, "ceiling")
    with pytest.raises(LookupError, match="has no role 'teacher'"):
        folder_of(store, tmp_path, second, "teacher")


def test_a_folder_streams_as_a_tar_of_the_same_files(tmp_path):
    folder, _ = kept_folder(tmp_path, "d" * 24, size=3 * 2**20 + 7)  # several chunks, and padding
    data = b"".join(tar_chunks(folder, "r1-weak"))
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(tmp_path / "out", filter="data")
    for name in ("model.safetensors", "sub/w2s.json"):
        assert (tmp_path / "out" / "r1-weak" / name).read_bytes() == (folder / name).read_bytes()


def test_gc_removes_leftovers_always_and_the_rest_only_when_asked(store, tmp_path):
    keys = {"weak": "1" * 24, "ceiling": "2" * 24, "student": "3" * 24}
    recs = {role: kept_folder(tmp_path, key)[1] for role, key in keys.items()}
    first, _ = fake_run(store, keys=keys, keep=recs)
    fake_run(store, keys={"weak": keys["weak"]})  # a second run that reuses the weak stage
    root = tmp_path / "weights"
    (root / f".partial-{'5' * 24}-999999").mkdir()  # a worker that died mid-write (no such pid)
    (root / f".partial-{'6' * 24}-{os.getpid()}").mkdir()  # one still writing
    kept_folder(tmp_path, "7" * 24)  # a folder no row names
    dry = collect(store, tmp_path, dry_run=True)
    assert sorted(r["reason"] for r in dry["removed"]) == ["half-written by a worker that is gone",
                                                           "no stage records it"]
    assert (root / f".partial-{'5' * 24}-999999").exists()  # a dry run removes nothing
    done = collect(store, tmp_path)
    assert done["freed"] == 1002 and done["kept"] == 3 and not (root / ("7" * 24)).exists()
    assert (root / f".partial-{'6' * 24}-{os.getpid()}").exists()
    # A run's weights: the weak stage is shared with the second run, so it stays; the other two go.
    mine = collect(store, tmp_path, runs=[first])
    assert {r["stage_key"] for r in mine["removed"]} == {keys["ceiling"], keys["student"]}
    assert store._rows("SELECT stage_key FROM weights") == [(keys["weak"],)]
    assert collect(store, tmp_path, older_than_days=1)["removed"] == []
    assert [r["stage_key"] for r in collect(store, tmp_path, older_than_days=0)["removed"]] == [keys["weak"]]
    assert collect(store, tmp_path, everything=True)["kept"] == 0 and not (root / keys["weak"]).exists()
