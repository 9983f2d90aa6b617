"""Who a studio request is for, in public mode: each browser is a visitor with its own runs, the owner logs in.

    visitors = Visitors(client)              # client: the engine client the studio holds (the engine token)
    source = Source(client, visitor=visitors.token)   # every engine call then acts for the current visitor
    state = visitors.browser_state()         # gr.BrowserState: the visitor's signed token in localStorage
    demo.load(visitors.on_load, [state], [state, who])   # first of the page's load events

The engine signs each visitor's identity (POST /api/visitors) and checks the signature on every call, so a
visitor cannot become another by editing what the browser stores; the studio only remembers which token each
page (Gradio's session_hash) carries. A page that never ran the load event (a gradio_client script) gets a
fresh identity of its own. The owner's login is checked by the engine (W2S_OWNER_PASSWORD) and its token kept
the same way, so a reload stays logged in. In local mode none of this exists: every call is the owner's.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import gradio as gr

from studio.common import esc, notice
from studio.source import message

STORAGE_KEY = "w2s-visitor"
# The value kept in the browser is signed by the engine; BrowserState's own encryption adds nothing to that, but a
# fixed secret keeps the value readable across studio restarts.
STORAGE_SECRET = "w2s-studio-visitor-identity"
MAX_SESSIONS = 50_000


def current_request() -> Any:
    """The gr.Request of the event being handled in this thread (Gradio sets it for every event)."""
    from gradio.context import LocalContext

    return LocalContext.request.get(None)


class Visitors:
    """Page (session_hash) -> the visitor token it acts with; tokens come from the engine."""

    def __init__(self, client: Any):
        self.client = client  # the owner's client: it may mint identities and check the owner password
        self._tokens: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def browser_state(self) -> gr.BrowserState:
        return gr.BrowserState({}, storage_key=STORAGE_KEY, secret=STORAGE_SECRET)

    def _remember(self, session: str, token: str, replace: bool = True) -> str:
        """The token `session` acts with from now on: `token`, or the one it has when `replace` is false."""
        with self._lock:
            if replace or session not in self._tokens:
                self._tokens[session] = token
            self._tokens.move_to_end(session)
            while len(self._tokens) > MAX_SESSIONS:
                self._tokens.popitem(last=False)
            return self._tokens[session]

    def token(self) -> str | None:
        """The current page's visitor token (a new identity for a page the studio has not seen)."""
        request = current_request()
        session = getattr(request, "session_hash", None)
        if not session:
            return None  # not inside an event (building the app): the owner's own calls
        with self._lock:
            token = self._tokens.get(session)
        if token is None:
            # An event that reaches the studio before the page's load event (a timer tick) gets an identity of its
            # own, but never replaces the one the load event remembered while this one was being minted.
            token = self._remember(session, self.client.new_visitor().token, replace=False)
        return token

    def is_owner(self) -> bool:
        return (self.token() or "").startswith("owner.")

    def _valid(self, token: str) -> bool:
        try:
            self.client.as_visitor(token).health()
            return True
        except Exception:  # the engine's secret or the owner password changed: a new identity
            return False

    def on_load(self, state: Any, request: gr.Request):
        """First event of every page: reuse the browser's identity if the engine still accepts it, else mint one."""
        token = (state or {}).get("token") if isinstance(state, dict) else None
        if not token or not self._valid(token):
            token = self.client.new_visitor().token
        self._remember(request.session_hash, token)
        return {"token": token}, self.who(token)

    @staticmethod
    def who(token: str) -> str:
        if token.startswith("owner."):
            return ('<div class="w2s-who">public studio · logged in as the <b>owner</b>: you see and manage every '
                    'run</div>')
        return (f'<div class="w2s-who">public studio · you are visitor <b>{esc(token.split(".")[0])}</b>: you see '
                "your own runs and the shared demo runs; they stay with this browser</div>")

    def login(self, password: str, request: gr.Request):
        try:
            token = self.client.owner_login(password or "").token
        except Exception as exc:
            return gr.skip(), gr.skip(), notice(message(exc)), ""
        self._remember(request.session_hash, token)
        return {"token": token}, self.who(token), notice("Logged in as the owner.", "ok"), ""

    def logout(self, request: gr.Request):
        token = self.client.new_visitor().token
        self._remember(request.session_hash, token)
        return {"token": token}, self.who(token), notice("Logged out: a new visitor identity.", "info")


def owner_panel(visitors: Visitors, source: Any, state: Any, who: Any, owner_login: bool) -> dict[str, Any]:
    """The owner's controls: log in / out, share a run with every visitor (a demo run) or stop sharing it."""
    with gr.Accordion("Owner", open=False, elem_id="w2s-owner"):
        if not owner_login:
            gr.Markdown("No owner login on this server: set the `W2S_OWNER_PASSWORD` secret.",
                        elem_classes=["w2s-help"])
        with gr.Row(equal_height=True):
            password = gr.Textbox(label="Owner password", type="password", max_lines=1, scale=3,
                                  interactive=owner_login, elem_id="w2s-owner-password")
            login = gr.Button("Log in", size="sm", scale=1, interactive=owner_login, elem_id="w2s-owner-login")
            logout = gr.Button("Log out", size="sm", scale=1)
        with gr.Row(equal_height=True):
            run = gr.Textbox(label="Run to share with every visitor", placeholder="run id", max_lines=1, scale=3)
            share = gr.Button("Share", size="sm", scale=1)
            unshare = gr.Button("Stop sharing", size="sm", scale=1)
        status = gr.HTML()

    def set_public(run_id: str, public: bool):
        run_id = (run_id or "").strip()
        if not run_id:
            return notice("Give a run id.", "info")
        try:
            source.set_public(run_id, public)
        except Exception as exc:
            return notice(message(exc))
        return notice(f"Run {run_id} is {'shared with every visitor' if public else 'no longer shared'}.", "ok")

    login.click(visitors.login, password, [state, who, status, password], api_visibility="private")
    password.submit(visitors.login, password, [state, who, status, password], api_visibility="private")
    logout.click(visitors.logout, None, [state, who, status], api_visibility="private")
    share.click(lambda r: set_public(r, True), run, status, api_visibility="private")
    unshare.click(lambda r: set_public(r, False), run, status, api_visibility="private")
    return {"password": password, "login": login, "logout": logout, "run": run, "share": share,
            "unshare": unshare, "status": status}
