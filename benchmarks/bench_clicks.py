"""What one click costs the engine: HTTP requests and SQL read statements per click, measured in a real browser.

    .venv/bin/python benchmarks/bench_clicks.py                     # this tree's studio
    .venv/bin/python benchmarks/bench_clicks.py --studio /tmp/main  # another tree's studio (e.g. `git archive main`)

Starts this tree's engine on a temporary W2S_HOME (its /api/health counts requests and read statements), runs two
small finished runs, starts the studio of `--studio` against that engine, and in headless Chromium (playwright)
clicks: a run's row in the Runs tab, then the Results tab, then the Inspector tab, then a 2x2 cell. Each figure is
the engine's counters after the click settled minus before, less the same window with no click (the pages'
timers), so another tree's studio is measured against the same engine side by side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("W2S_THREADS", "1")

IDLE = ("() => Array.from(document.querySelectorAll('.pending, .generating, "
        "[data-testid=\"status-tracker\"]:not(.hide)')).filter(e => e.offsetParent !== null && "
        "e.getBoundingClientRect().height > 0).length === 0")
CONFIG = {"task": "world_size", "weak": "world-xs", "strong": "world-s", "n_train": 200, "n_test": 100,
          "methods": ["naive", "aux_conf"], "train": {"epochs": 1}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studio", default=str(ROOT), help="the tree whose launch.py to run (default: this one)")
    parser.add_argument("--window", type=float, default=4.0, help="seconds each click is given to settle")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("bench_clicks: needs chromium on PATH for the headless browser; apt-get install -y chromium")
        return 0
    from playwright.sync_api import sync_playwright

    from engine.client import ensure_engine

    home = Path(tempfile.mkdtemp(prefix="w2s-clicks-"))
    os.environ["W2S_HOME"] = str(home)
    engine = ensure_engine(home=home)
    studio = None
    try:
        ids = engine.submit(CONFIG).run_ids
        runs = engine.wait_for(ids, timeout=600)
        assert all(r.status == "done" for r in runs), [r.error for r in runs]
        port = 7000 + os.getpid() % 1000
        env = {**os.environ, "W2S_STUDIO_PORT": str(port), "PYTHONPATH": args.studio}
        studio = subprocess.Popen([sys.executable, "launch.py"], cwd=args.studio, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)

        def counters() -> tuple[int, int]:
            h = engine.health()
            return h.requests, h.statements

        def settle(page) -> None:
            """Until no spinner shows; a studio whose spinner never stops (a constant poll) gets 15 s."""
            try:
                page.wait_for_function(IDLE, timeout=15_000)
            except Exception:  # playwright's TimeoutError: measure the window anyway
                print("  (the page did not settle in 15 s: measured as it was)")

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{url}/?tab=runs")
            page.wait_for_selector("#runs-table [role=gridcell]")
            settle(page)
            time.sleep(3)

            def measure(label: str, action) -> None:
                a = counters()
                time.sleep(args.window)  # the same window without a click: the pages' own timers
                b = counters()
                action()
                time.sleep(0.3)
                settle(page)
                time.sleep(max(0.0, args.window - 0.3))
                c = counters()
                idle_req, idle_sql = b[0] - a[0] - 1, b[1] - a[1] - 1  # less the health call that read them
                req, sql = c[0] - b[0] - 1 - idle_req, c[1] - b[1] - 1 - idle_sql
                print(f"{label:<34} {req:>4} requests {sql:>4} statements   (idle window: {idle_req} / {idle_sql})")

            measure("click a run in the Runs table",
                    lambda: page.locator("#runs-table [role=row]", has_text=ids[0]).locator("[role=gridcell]")
                    .first.click())
            measure("open the Results tab", lambda: page.get_by_role("tab", name="Results").click())
            measure("open the Inspector tab", lambda: page.get_by_role("tab", name="Inspector").click())
            measure("click a 2x2 cell", lambda: page.locator("#inspector-heatmap [data-quadrant=student_fixed]")
                    .first.click())
            browser.close()
    finally:
        if studio is not None:
            studio.terminate()
            studio.wait(timeout=30)
        engine.shutdown()
        time.sleep(2)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
