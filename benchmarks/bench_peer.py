"""Against the reference implementation (openai/weak-to-strong, patched only to run on a CPU), on the same
protocol: tiny GPT-2 xs -> l of the offline world, weak + ceiling + naive + aux_conf, 10 epochs, batch 32,
lr 2e-4, one torch thread, each run cold on a fresh database.

    bash ../shared/peer/setup.sh                    # once (~5 min): the reference's venv, data and models
    .venv/bin/python benchmarks/bench_peer.py       # 3 interleaved rounds (W2S_BENCH_PAIRS=N for N)

The same run as ../shared/peer/side_by_side.sh, with peak memory added and a third column: this project as it
ships (training dynamics recorded: every example's p(1) at each evaluation point, which the reference does not
do) and with `train.checkpoints: 0` (exactly the reference's work). Each round runs ref, ours, ours without
dynamics in turn, so a change in the machine's load hits all three. Prints wall and CPU seconds and peak memory
per run, the ratios against the reference, and the accuracies of the last round. Without the reference set up,
prints one line saying how to set it up.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(os.environ.get("W2S_PEER_HARNESS", ROOT.parent / "shared" / "peer"))
PEER = Path(os.environ.get("PEER_DIR", Path(tempfile.gettempdir()) / "w2s-peer"))

CONFIG = """name: side-by-side
task: {{name: file, path: {data}/train.jsonl, test_path: {data}/test.jsonl, text_column: txt, label_column: hard_label}}
weak: {models}/xs
strong: {models}/l
methods: [naive, aux_conf]
seeds: [0]
balance: false
train: {{epochs: 10, batch_size: 32, lr: 2.0e-4, weak_lr: 2.0e-4, max_length: 64{extra}}}
settings: {{aux_conf: {{aux_coef: 0.5, warmup_frac: 0.1}}}}
"""


def timed(cmd: list[str], log: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak MiB) of `cmd` and its children, by GNU time."""
    out = log.with_suffix(".time")
    with log.open("w") as fh:
        rc = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(out), *cmd], stdout=fh,
                            stderr=subprocess.STDOUT, env=env).returncode
    if rc:
        raise SystemExit(f"{' '.join(cmd[:2])} failed (exit {rc}); its log: {log}\n" + log.read_text()[-2000:])
    wall, user, sys_, peak_kib = out.read_text().split()[-4:]
    return float(wall), float(user) + float(sys_), float(peak_kib) / 1024


def main() -> None:
    if not (HERE / "run_peer.py").exists() or not (PEER / "venv" / "bin" / "python").exists():
        print(f"bench_peer: the reference is not set up (no {PEER}/venv or {HERE}/run_peer.py): run "
              f"`bash {HERE}/setup.sh` once to compare against it")
        return
    if not Path("/usr/bin/time").exists():
        print("bench_peer: needs GNU time (/usr/bin/time) for CPU and peak memory; apt install time")
        return
    pairs = int(os.environ.get("W2S_BENCH_PAIRS", "3"))
    work = Path(tempfile.mkdtemp(prefix="w2s-bench-peer-"))
    data, models = PEER / "data" / "world0_seed0", PEER / "models"
    configs = {"ours": work / "ours.yaml", "ours, no dynamics": work / "ours-nodyn.yaml"}
    configs["ours"].write_text(CONFIG.format(data=data, models=models, extra=""))
    configs["ours, no dynamics"].write_text(CONFIG.format(data=data, models=models, extra=", checkpoints: 0"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PEER_DIR": str(PEER)}
    w2s = str(Path(sys.executable).with_name("w2s"))
    times: dict[str, list[tuple[float, float, float]]] = {"ref": [], **{k: [] for k in configs}}
    print(f"bench_peer: {pairs} rounds of reference / ours / ours without dynamics, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
    for i in range(pairs):
        times["ref"].append(timed([str(PEER / "venv" / "bin" / "python"), str(HERE / "run_peer.py"), "--seeds", "0",
                                   "--weak", "xs", "--tag", f"bench-{i}"], work / "ref.log", env))
        for label, cfg in configs.items():
            home = work / "home"
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir()
            times[label].append(timed([w2s, "run", str(cfg), "--db", str(home / "runs.duckdb")],
                                      work / f"{label.replace(', ', '-').replace(' ', '-')}.log",
                                      {**env, "W2S_HOME": str(home)}))
        row = "  ".join(f"{k} {t[-1][0]:.1f} s wall / {t[-1][1]:.1f} CPU s / {t[-1][2]:.0f} MiB"
                        for k, t in times.items())
        print(f"round {i + 1}: {row}")
    ref = times["ref"]
    print(f"{'':22}{'wall s':>10}{'CPU s':>10}{'peak MiB':>10}   ratios to the reference (per round)")
    for label, t in times.items():
        med = [statistics.median(x[j] for x in t) for j in range(3)]
        ratios = "" if label == "ref" else "   wall " + " / ".join(f"{a[0] / b[0]:.2f}" for a, b in zip(t, ref)) + \
            "x, CPU " + " / ".join(f"{a[1] / b[1]:.2f}" for a, b in zip(t, ref)) + \
            f"x, peak {med[2] / statistics.median(x[2] for x in ref):.2f}x"
        print(f"{label:22}{med[0]:>10.1f}{med[1]:>10.1f}{med[2]:>10.0f}{ratios}")
    ours_log = (work / "ours.log").read_text()
    ref_log = (work / "ref.log").read_text()
    for line in re.findall(r"^(?:naive|aux_conf)\s.*$", ours_log.split("medians over seeds")[-1], re.M)[:2]:
        print(f"ours (last round):      {line.strip()}")
    for line in re.findall(r"^seed 0.*$", ref_log, re.M)[:2]:
        print(f"reference (last round): {line.strip()}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
