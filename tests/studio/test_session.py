"""studio.session: a public-mode studio and engine (`launch.py --public`) as two anonymous visitors and the owner,
driven with gradio_client and, where a real browser matters (the identity that survives a reload, the owner's
login), two browser contexts in headless Chromium."""

from __future__ import annotations

import shutil
import sys
import time
from types import SimpleNamespace

import pytest
from gradio_client import Client, handle_file

from studio.session import Visitors
from tests.helpers import ROOT, StudioProcess
from tests.studio.test_app import preset_values, table_rows

PASSWORD = "open-sesame"


@pytest.fixture(scope="module")
def public_app(tmp_path_factory):
    """Only queues (0 worker slots): every rule here is decided before anything trains."""
    proc = StudioProcess(tmp_path_factory.mktemp("public-home"), workers=0, public=True,
                         env={"W2S_OWNER_PASSWORD": PASSWORD, "W2S_MAX_QUEUED": "8"})
    yield proc
    proc.stop()


def runs_of(client: Client) -> dict[str, str]:
    table, *_ = client.predict("all", "all", "all", "", False, api_name="/runs_table")
    return {r["run"]: r["status"] for r in table_rows(table)}


def test_two_visitors_do_not_see_or_control_each_others_runs(public_app):
    a, b = public_app.client, Client(public_app.url, verbose=False)
    values, at = preset_values(public_app)
    out = a.predict(*values, api_name="/submit")
    ids = out[1].split(",")
    assert len(ids) == 6 and "Queued 6 run(s)" in out[0], out[2]
    assert set(runs_of(a)) == set(ids) and not set(runs_of(b)) & set(ids)
    stopped = b.predict(ids[0], api_name="/stop")
    assert f"no run &#x27;{ids[0]}&#x27;" in stopped
    assert runs_of(a)[ids[0]] == "queued"
    inspected = b.predict(ids[0], "", "test", "all", "all", "", "example id", False, 1, api_name="/inspect")
    assert "no run" in inspected[3]
    # The per-visitor cap: 6 queued, the demo again (same setups and seeds, created anyway) adds 6, the limit is 8.
    out = a.predict(*values, api_name="/submit_again")
    assert out[1] == "" and "you have 6 queued or running run(s) and this sweep adds 6; the limit is 8" in out[2]
    assert "W2S_MAX_QUEUED" in out[2]
    for run_id in ids:
        assert "Stopping run" in a.predict(run_id, api_name="/stop")


def test_remote_code_typed_models_and_server_paths_are_not_offered(public_app, tmp_path):
    a, b = public_app.client, Client(public_app.url, verbose=False)
    info = a.view_api(return_format="dict", print_info=False)
    labels = {p["label"] for p in info["named_endpoints"]["/submit"]["parameters"]}
    assert "trust_remote_code" not in labels and "lora" in labels  # the field is not in the form at all
    values, at = preset_values(public_app)
    typed = list(values)
    typed[at["Weak supervisor"]] = str(tmp_path)
    with pytest.raises(Exception, match="not in the list of choices"):
        a.predict(*typed, api_name="/check")
    server = list(values)
    server[at["Task"]], server[at["path"]] = "file", "/etc/hosts.csv"
    out = a.predict(*server, api_name="/check")
    assert "is a server path" in out[0] and "upload" in out[0]
    seeds = list(values)
    seeds[at["Seeds"]] = "0-999999999"
    t0 = time.monotonic()
    out = a.predict(*seeds, api_name="/check")
    assert "1,000,000,000 seeds; at most 5 per sweep" in out[0] and time.monotonic() - t0 < 10
    # An upload becomes a reference that only its visitor's tasks may read.
    data = tmp_path / "mine.csv"
    data.write_text("text,label\n" + "".join(f"sentence {i},{i % 2}\n" for i in range(30)))
    up = a.predict(handle_file(str(data)), api_name="/upload_data")
    ref = up[4]
    assert ref.startswith("upload:") and str(public_app.home) not in str(up)
    theirs = list(values)
    theirs[at["Task"]], theirs[at["path"]] = "file", ref
    theirs[at["text_column"]], theirs[at["label_column"]] = "text", "label"
    assert "Config is valid" in a.predict(*theirs, api_name="/check")[0]
    assert "is not one of your uploads" in b.predict(*theirs, api_name="/check")[0]


class MintsWhileThePageLoads:
    """The engine client, except that the page's load event lands while the next identity is being minted."""

    def __init__(self, client, during_the_mint):
        self.client, self.during_the_mint = client, during_the_mint

    def __getattr__(self, name):
        return getattr(self.client, name)

    def new_visitor(self):
        minted = self.client.new_visitor()
        if self.during_the_mint:
            self.during_the_mint.pop()()
        return minted


def test_an_event_before_the_page_load_does_not_replace_the_browsers_identity(public_app):
    """A timer tick can reach the studio before a reloaded page's load event: it mints an identity of its own,
    and the browser's identity, remembered by the load event meanwhile, must still be the one the page acts with
    (else the Runs tab reads a stranger's empty list)."""
    from gradio.context import LocalContext

    alice = public_app.engine.new_visitor().token
    page = SimpleNamespace(session_hash="reloaded-page")
    visitors = Visitors(public_app.engine)
    visitors.client = MintsWhileThePageLoads(public_app.engine, [lambda: visitors.on_load({"token": alice}, page)])
    reset = LocalContext.request.set(page)
    try:
        early = visitors.token()  # the tick: the page is not known yet
        assert early == alice and visitors.token() == alice
    finally:
        LocalContext.request.reset(reset)
    # A page that never loads still gets one identity of its own, kept for its later events.
    other = SimpleNamespace(session_hash="never-loaded")
    reset = LocalContext.request.set(other)
    try:
        first = visitors.token()
        assert first != alice and first.split(".")[0] and visitors.token() == first
    finally:
        LocalContext.request.reset(reset)


# ----------------------------------------------------------------------------- in a real browser
class Tab:
    """One page in its own browser context (its own localStorage and cookies) of a shared headless Chromium."""

    def __init__(self, browser):
        self.browser = browser
        context = browser.call("Target.createBrowserContext")["browserContextId"]
        target = browser.call("Target.createTarget", {"url": "about:blank", "browserContextId": context})["targetId"]
        self.session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self._do(lambda: browser.call("Page.enable", session=True))

    def _do(self, fn):
        self.browser.session, previous = self.session, self.browser.session
        try:
            return fn()
        finally:
            self.browser.session = previous

    def open(self, url: str) -> None:
        self._do(lambda: self.browser.open(url))

    def js(self, expression: str):
        return self._do(lambda: self.browser.js(expression))

    def wait(self, expression: str, timeout: float = 60) -> bool:
        """Until `expression` holds and the page is idle."""
        return self._do(lambda: self.browser.wait(expression, timeout=timeout, settle=0.3))

    def until(self, expression: str, timeout: float = 60) -> bool:
        """Until `expression` holds (the Runs tab polls while runs are queued, so it is rarely idle)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.js(f"!!({expression})"):
                return True
            time.sleep(0.3)
        return False

    def type(self, selector: str, text: str) -> None:
        self.js(f"(() => {{ const el = document.querySelector({selector!r}); el.value = {text!r}; "
                "el.dispatchEvent(new Event('input', {bubbles: true})); })()")

    def click(self, selector: str) -> None:
        self.js(f"document.querySelector({selector!r}).click()")

    def text(self) -> str:
        return self.js("document.body.innerText") or ""


@pytest.mark.slow  # about 1.5 minutes of page loads on two shared cores
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium (apt-get install -y chromium); "
                    ".ci/run installs it")
def test_two_browser_contexts_and_the_owner(public_app):
    sys.path.insert(0, str(ROOT / "scripts"))
    from screenshots import Chromium

    browser = Chromium(width=1280, height=900)
    try:
        alice, bob = Tab(browser), Tab(browser)
        alice.open(public_app.url)
        assert alice.wait("document.querySelector('#w2s-who b')"), "the visitor line never appeared"
        alice_id = alice.js("document.querySelector('#w2s-who b').innerText")
        assert alice.wait("document.querySelector('#exp-task input') && document.querySelector('#exp-task input').value")
        alice.click("#exp-submit")
        # textContent: the submit moves the page to the Runs tab, so the Experiment tab's message is hidden
        assert alice.wait("document.body.textContent.includes('Queued 6 run(s)')", timeout=90), alice.text()[-800:]
        ids = [r for r in alice.js("document.body.textContent").split("Queued 6 run(s) as sweep ")[1].split(":", 1)[1].split(".")[0]
               .replace(" ", "").split(",")]
        assert len(ids) == 6

        # Alice reloads: same identity, her runs in the Runs tab.
        alice.open(f"{public_app.url}/?tab=runs")
        table = "document.querySelector('#runs-table') && document.querySelector('#runs-table').innerText"
        assert alice.until(" && ".join(f"({table}).includes('{i}')" for i in ids), timeout=120), alice.js(table)
        assert alice.js("document.querySelector('#w2s-who b').innerText") == alice_id

        # Bob, another browser: another visitor, none of her runs.
        bob.open(f"{public_app.url}/?tab=runs")
        assert bob.until("document.querySelector('#w2s-who b')")
        assert bob.js("document.querySelector('#w2s-who b').innerText") != alice_id
        assert bob.until(f"({table}).includes('tags')")
        time.sleep(3)  # the table has loaded and polled again
        assert not any(i in bob.text() for i in ids)

        # Bob logs in as the owner: he sees every run and shares one with every visitor.
        bob.click("#w2s-owner button")  # open the accordion
        assert bob.until("document.querySelector('#w2s-owner-password input')")
        bob.type("#w2s-owner-password input", PASSWORD)
        bob.click("#w2s-owner-login")
        assert bob.until("document.body.innerText.includes('Logged in as the owner')"), bob.text()[-500:]
        bob.open(f"{public_app.url}/?tab=runs")
        assert bob.until(" && ".join(f"({table}).includes('{i}')" for i in ids), timeout=120), (ids, bob.text()[-800:])
        assert "logged in as the owner" in bob.text()  # the login survived the reload
    finally:
        browser.close()
    share = public_app.engine.set_public(ids[0], True)  # what the owner's Share button calls
    assert share.model_dump()["public"]
    carol = Client(public_app.url, verbose=False)
    assert set(runs_of(carol)) == {ids[0]}  # a third visitor sees only the shared demo run
    assert "only its owner" in carol.predict(ids[0], api_name="/stop")
    for run_id in ids:
        public_app.engine.cancel(run_id)
