"""`w2s compare` and the seed statistics of `w2s show`, as a user types them, on a database file holding runs of
two methods over three seeds (their PGRs written as the runner writes them)."""

from __future__ import annotations

import pytest

from engine.reading import open_store
from tests.engine.cli.test_results import w2s

PGR = {"naive": [0.10, 0.20, 0.30], "aux_conf": [0.25, 0.30, 0.29]}  # differences 0.15, 0.10, -0.01


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "runs.duckdb"
    store = open_store(path)
    ids = {}
    for method, values in PGR.items():
        for seed, value in enumerate(values):
            config = {"name": f"{method}-{seed}", "task": "toy_sentiment", "weak": "w", "strong": "s",
                      "method": method, "seed": seed, "train": {"epochs": 2}}
            run_id = store.create_run(config, status="running")
            store.handle({"type": "metrics", "run_id": run_id, "rows": [{"name": "pgr", "value": value}]})
            store.set_status(run_id, "done")
            ids[method, seed] = run_id
    store.close()
    return path, ids


def test_compare_prints_the_paired_difference_and_sign_test(db, tmp_path):
    path, _ = db
    out = w2s("compare", "naive", "aux_conf", "--db", str(path), home=tmp_path)
    assert out.returncode == 0, out.stderr
    line = next(row for row in out.stdout.splitlines() if row.startswith("toy_sentiment"))
    # mean of 0.15, 0.10, -0.01 = 0.08; 2 wins, 1 loss: p = 2 * P(X <= 1 | n = 3) = 1.0
    assert "0,1,2" in line and "0.080" in line and "2/1/0" in line and line.rstrip().endswith("1.000")
    seeds = w2s("compare", "naive", "--seeds", "--db", str(path), home=tmp_path)
    assert seeds.returncode == 0 and "0.200" in seeds.stdout  # naive's mean PGR
    none = w2s("compare", "naive", "weak_dpo", "--db", str(path), home=tmp_path)
    assert none.returncode == 2 and "no setups where 'naive' and 'weak_dpo'" in none.stderr


def test_show_reports_its_setups_pgr_across_seeds(db, tmp_path):
    path, ids = db
    out = w2s("show", ids["naive", 1], "--db", str(path), home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "PGR across the seeds of this setup (0,1,2): n 3, mean 0.200" in out.stdout
    assert "too few seeds for a median interval" in out.stdout
