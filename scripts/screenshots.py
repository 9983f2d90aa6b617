"""Screenshots of every studio tab with data in it: docs/screenshots/<tab>.png, and of the training-dynamics views
(dynamics.png: the Results tab's section; trajectory.png: the Inspector's trajectory of a picked example and
its data map).

    python scripts/screenshots.py                  # temp W2S_HOME, a fast run, then one PNG per tab
    python scripts/screenshots.py --out DIR --keep # keep the temp data directory (its path is printed)

Starts an engine and the studio on a temporary W2S_HOME, submits a small offline experiment (the world
zoo: the demo's world-xs -> world-l on world_size, naive and aux_conf, seeds 0 and 1) so the Runs, Results and
Inspector tabs have something to show, then drives headless Chromium over the DevTools protocol (a
pipe, no extra packages) and waits until the page is idle before each capture. Needs `chromium` on
PATH (Debian: apt-get install -y --no-install-recommends chromium fonts-dejavu-core).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIG = {
    "name": "screenshots", "task": "world_size", "weak": "world-xs", "strong": "world-l",
    "methods": ["naive", "aux_conf"], "seeds": [0, 1], "train": {"epochs": 10, "batch_size": 32},
}
# Wait until this JavaScript expression is true before taking each tab's picture.
READY = {
    "experiment": "document.querySelector('#exp-task input') && document.querySelector('#exp-task input').value",
    "runs": "document.querySelectorAll('#runs-table [role=gridcell]').length > 0 && "
            "document.querySelector('#runs-curves .js-plotly-plot')",
    "results": "document.querySelector('#results-ladder .js-plotly-plot') && "
               "document.querySelector('#results-calibration .js-plotly-plot') && "
               "document.querySelector('#results-cards .w2s-card')",
    "inspector": "document.querySelectorAll('#inspector-table [role=gridcell]').length > 0 && "
                 "document.querySelector('#inspector-heatmap .w2s-q')",
}
# Close-ups: (name, tab, JavaScript run first (a click), ready expression, elements whose union is captured).
CLOSEUPS = [
    ("dynamics", "results", "", "document.querySelector('#results-dynamics .js-plotly-plot') && "
     "document.querySelectorAll('#results-seed-stats tbody tr').length > 0", ["#results-dynamics", "#results-paired"]),
    ("trajectory", "inspector", "", "document.querySelectorAll('#inspector-table tbody tr').length > 0 && "
     "document.querySelector('#inspector-cartography circle[data-example]')", None),
]
FIRST_CELL = "#inspector-table tbody tr td"
# Idle: no visible component is loading (a hidden tab's status trackers do not count).
IDLE = ("Array.from(document.querySelectorAll('.pending, .generating, [data-testid=\"status-tracker\"]:not(.hide)'))"
        ".filter(e => e.offsetParent !== null && e.getBoundingClientRect().height > 0).length === 0")


class Chromium:
    """Headless Chromium driven over --remote-debugging-pipe (fd 3 in, fd 4 out; messages end with NUL)."""

    def __init__(self, width: int = 1440, height: int = 1000):
        exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if exe is None:
            raise SystemExit("chromium not found; apt-get install -y --no-install-recommends chromium")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:  # in the child: the DevTools pipe must sit on fds 3 and 4
            # dup first: the pipe may already be on fd 3 or 4, where dup2 would be a no-op that keeps
            # close-on-exec set.
            read_end, write_end = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.profile = tempfile.mkdtemp(prefix="w2s-chromium-")
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--remote-debugging-pipe",
             "--no-first-run", "--disable-extensions", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-quic", f"--user-data-dir={self.profile}",
             # A tab opened over DevTools counts as in the background: its timers and rendering would be
             # throttled and Gradio's event stream would stall mid-update.
             "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
             "--disable-backgrounding-occluded-windows",
             f"--window-size={width},{height}", "about:blank"],
            preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf, self._id = b"", 0
        self.width, self.height = width, height
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Page.bringToFront", session=True)

    def call(self, method: str, params: dict | None = None, session: bool = False, timeout: float = 60.0) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        raise TimeoutError(method)

    def js(self, expression: str):
        out = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        return out.get("result", {}).get("value")

    def open(self, url: str) -> None:
        self.call("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                         "deviceScaleFactor": 1, "mobile": False}, session=True)
        self.call("Page.navigate", {"url": url}, session=True)

    def wait(self, expression: str, timeout: float = 60.0, settle: float = 1.0) -> bool:
        """Poll until `expression` and the idle check are true, then let animations settle."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.js(f"!!({expression}) && ({IDLE})"):
                    time.sleep(settle)
                    return True
            except RuntimeError:
                pass
            time.sleep(0.3)
        return False

    def screenshot(self, path: Path, full_page: bool = True) -> int:
        params: dict = {"format": "png"}
        if full_page:
            size = self.js("JSON.stringify([document.documentElement.scrollWidth, "
                           "document.documentElement.scrollHeight])")
            w, h = json.loads(size)
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": max(w, self.width),
                                                            "height": min(max(h, 600), 4000), "scale": 1})
        data = base64.b64decode(self.call("Page.captureScreenshot", params, session=True)["data"])
        path.write_bytes(data)
        return len(data)

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) at the centre of the element, as a user's."""
        self.js(f"document.querySelector({json.dumps(selector)}).scrollIntoView({{block: 'center'}})")
        x, y = json.loads(self.js(f"JSON.stringify((r => [r.left + r.width / 2, r.top + r.height / 2])("
                                  f"document.querySelector({json.dumps(selector)}).getBoundingClientRect()))"))
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
                      session=True)

    def type_enter(self, selector: str, text: str) -> None:
        """Focus the field, type `text` and press Enter (a Textbox's submit)."""
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", {"text": text}, session=True)
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", {"type": kind, "key": "Enter", "code": "Enter",
                                                 "windowsVirtualKeyCode": 13, "text": "\r"}, session=True)

    def element_shot(self, path: Path, selectors: list[str], pad: int = 8) -> int:
        """The union of the elements' boxes (page coordinates), scrolled into view first."""
        self.js(f"document.querySelector({json.dumps(selectors[0])}).scrollIntoView()")
        time.sleep(0.5)
        box = json.loads(self.js(
            "JSON.stringify((() => { const r = " + json.dumps(selectors) + ".map(s => document.querySelector(s)"
            ".getBoundingClientRect()); return [Math.min(...r.map(b => b.left)), Math.min(...r.map(b => b.top)) + "
            "scrollY, Math.max(...r.map(b => b.right)), Math.max(...r.map(b => b.bottom)) + scrollY]; })())"))
        clip = {"x": max(0, box[0] - pad), "y": max(0, box[1] - pad), "width": box[2] - box[0] + 2 * pad,
                "height": box[3] - box[1] + 2 * pad, "scale": 1}
        shot = self.call("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True},
                         session=True)
        data = base64.b64decode(shot["data"])
        path.write_bytes(data)
        return len(data)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary W2S_HOME")
    parser.add_argument("--url", help="use a running studio instead of starting one (no run is submitted)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="w2s-shots-"))
    env = {**os.environ, "W2S_HOME": str(home), "W2S_THREADS": os.environ.get("W2S_THREADS", "1")}
    studio = client = None
    try:
        if args.url:
            url = args.url.rstrip("/")
        else:
            from engine.client import ensure_engine

            os.environ["W2S_HOME"] = str(home)
            client = ensure_engine(home=home)
            sweep = client.submit(CONFIG)
            print(f"submitted {len(sweep.run_ids)} runs into {home}; waiting for them", file=sys.stderr)
            port = free_port()
            studio = subprocess.Popen([sys.executable, str(ROOT / "launch.py")], cwd=ROOT,
                                      env={**env, "W2S_STUDIO_PORT": str(port)}, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True)
            url = f"http://127.0.0.1:{port}"
            runs = client.wait_for(sweep.run_ids, timeout=900)
            print("runs: " + ", ".join(f"{r.id} {r.status}" for r in runs), file=sys.stderr)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
        browser = Chromium()
        try:
            for tab in ("experiment", "runs", "results", "inspector"):
                browser.open(f"{url}/?tab={tab}")
                ok = browser.wait(READY[tab], timeout=90)
                size = browser.screenshot(out / f"{tab}.png")
                print(f"{out / f'{tab}.png'}: {size:,} bytes{'' if ok else ' (timed out waiting; check it)'}")
                if size < 10_000:
                    print(f"warning: {tab}.png is under 10 KB and probably blank", file=sys.stderr)
            for name, tab, _, ready, selectors in CLOSEUPS:
                browser.open(f"{url}/?tab={tab}")
                ok = browser.wait(ready, timeout=90)
                if tab == "inspector":  # pick an example: its trajectory is drawn beside the data map
                    drawn = "document.querySelectorAll('#inspector-trajectory .scatterlayer .trace').length > 0"
                    example = browser.js(f"document.querySelector({json.dumps(FIRST_CELL)}).textContent.trim()")
                    browser.click(FIRST_CELL)  # a click on the table's first row, as a user picks an example
                    if not browser.wait(drawn, timeout=10):  # else type its id into the field
                        print(f"inspector: no trajectory after the click; typing the example id {example!r}",
                              file=sys.stderr)
                        browser.type_enter("#inspector-example textarea, #inspector-example input", example)
                        ok = browser.wait(drawn, timeout=60) and ok
                    selectors = ["#inspector-example", "#inspector-cartography"]
                size = browser.element_shot(out / f"{name}.png", selectors)
                print(f"{out / f'{name}.png'}: {size:,} bytes{'' if ok else ' (timed out waiting; check it)'}")
        finally:
            browser.close()
    finally:
        if studio is not None:
            os.killpg(studio.pid, signal.SIGTERM)
            studio.wait(timeout=20)
        if client is not None:
            try:
                client.shutdown()
            except Exception:  # already gone
                pass
        if args.keep:
            print(f"data kept in {home}", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
