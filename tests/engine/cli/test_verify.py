"""`w2s verify RUN`: a finished run re-executed with the cache off reproduces every stored prediction, and a stored
result that does not come back is reported (exit 1), through the same CLI a user runs.

    .venv/bin/python -m pytest -q tests/test_verify.py
"""

from __future__ import annotations

import pytest
import yaml

from engine.cli import main


@pytest.fixture
def finished_run(tmp_path, tiny_models, monkeypatch):
    monkeypatch.setenv("W2S_HOME", str(tmp_path / "home"))  # no engine of another session is found
    config = {"task": "toy_sentiment", "weak": tiny_models["weak"], "strong": tiny_models["strong"],
              "methods": ["naive", "aux_conf"], "seeds": [0], "n_train": 96, "n_test": 48,
              "train": {"epochs": 2, "lr": 1e-3, "batch_size": 16}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    db = tmp_path / "runs.duckdb"
    assert main(["run", str(tmp_path / "c.yaml"), "--db", str(db), "--quiet"]) == 0
    from engine.server.store import Store

    store = Store(db)
    run_id = store.runs(method="aux_conf")["id"].iloc[0]  # its weak model and ceiling came from naive's run
    assert all(s["cached"] for s in store.run(run_id)["stages"] if s["role"] != "student")
    store.close()
    return db, run_id


def test_verify_reproduces_a_run_whose_stages_came_from_the_cache(finished_run, capsys):
    db, run_id = finished_run
    capsys.readouterr()
    assert main(["verify", run_id, "--db", str(db), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "REPRODUCED" in out and "DIFFERS" not in out
    verdicts = {line.split()[0] for line in out.splitlines() if line.rstrip().endswith(" ok")}
    assert verdicts == {"weak", "ceiling", "student"}
    from engine.server.store import Store

    store = Store(db)  # nothing of the re-execution was written to the user's database or cache
    assert len(store.runs()) == 2 and store.con.execute("SELECT count(*) FROM stages").fetchall()[0][0] == 4
    store.close()


def test_verify_reports_a_stored_prediction_that_does_not_come_back(finished_run, capsys):
    db, run_id = finished_run
    from engine.server.store import Store

    store = Store(db)
    weak = {s["role"]: s["stage_key"] for s in store.run(run_id)["stages"]}["weak"]
    store.con.execute("UPDATE predictions SET prob = 1 - prob WHERE stage_key = ? AND example_id = "
                      "(SELECT min(example_id) FROM predictions WHERE stage_key = ? AND split = 'test') "
                      "AND split = 'test'", [weak, weak])  # a stale or edited cache row
    store.close()
    capsys.readouterr()
    assert main(["verify", run_id, "--db", str(db), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "NOT REPRODUCED" in out
    weak_test = next(line for line in out.splitlines() if line.startswith("weak ") and " test " in line)
    assert weak_test.split()[4] == "1" and weak_test.rstrip().endswith("DIFFERS")  # one row over the tolerance


def test_verify_refuses_an_unknown_run_in_one_line(finished_run, capsys):
    db, _ = finished_run
    capsys.readouterr()
    assert main(["verify", "r-nope", "--db", str(db)]) == 2
    assert capsys.readouterr().err.strip() == "error: no run 'r-nope'; list runs with `w2s runs`"
