"""Who is calling the engine: the owner (the engine token), one visitor of a public studio, or one run's worker;
and the ASGI guard that decides it before anything else runs, with the request body limit.

    ids = Identities(secret)                       # secret: bytes kept in $W2S_HOME/secret
    visitor, token = ids.mint()                    # the studio keeps `token` in the visitor's browser
    ids.verify(token)                              # -> Caller(role="visitor", visitor=...) or None
    workers = WorkerTokens(); workers.issue(run_id)   # a token that reaches only that run

The studio holds the engine token and, in public mode, sends each visitor's signed token in the
X-W2S-Visitor header; the engine checks the signature (a visitor cannot claim another's runs by
changing a cookie or a form) and scopes every run to its owner. A request with the engine token and no
visitor header is the owner: the CLI on the server, or the studio's owner login.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from engine import api

OPEN_PATHS = {"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc", "/api/ping"}
# What a worker's token reaches: its run's config, its events and stage claims, and the stage cache (predictions
# and dynamics).
WORKER_ROUTES = (("GET", re.compile(r"^/api/runs/(?P<run>[\w-]+)$")),
                 ("POST", re.compile(r"^/api/runs/(?P<run>[\w-]+)/events$")),
                 ("POST", re.compile(r"^/api/runs/(?P<run>[\w-]+)/stages/[\w-]+/claim$")),
                 ("GET", re.compile(r"^/api/stages/[\w-]+$")),
                 ("GET", re.compile(r"^/api/stages/[\w-]+/dynamics$")))


@dataclass(frozen=True)
class Caller:
    role: Literal["owner", "visitor", "worker"]
    visitor: str | None = None  # a visitor's id: the `owner` column of the runs and uploads they create
    run_id: str | None = None   # a worker's run

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    @property
    def owner_id(self) -> str:
        """What the runs and uploads this caller creates are owned by ('' = the server's owner)."""
        return self.visitor or ""


OWNER = Caller("owner")


class Identities:
    """Signed visitor tokens (`<id>.<hmac>`) and the owner's login token, all under one server secret."""

    def __init__(self, secret: bytes):
        self._key = secret

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:40]

    def mint(self) -> tuple[str, str]:
        visitor = "v" + secrets.token_hex(8)
        return visitor, f"{visitor}.{self._sign(visitor)}"

    def owner_token(self, password: str) -> str:
        # Bound to the password: changing the W2S_OWNER_PASSWORD secret logs every owner session out.
        return f"owner.{self._sign('owner:' + hashlib.sha256(password.encode()).hexdigest())}"

    def verify(self, token: str, owner_password: str | None) -> Caller | None:
        name, _, sig = (token or "").partition(".")
        if name == "owner":
            ok = owner_password is not None and hmac.compare_digest(token, self.owner_token(owner_password))
            return OWNER if ok else None
        if re.fullmatch(r"v[0-9a-f]{16}", name) and hmac.compare_digest(sig, self._sign(name)):
            return Caller("visitor", visitor=name)
        return None


class WorkerTokens:
    """One token per running worker, good for that run only, revoked when the worker ends."""

    def __init__(self) -> None:
        self._by_token: dict[str, str] = {}
        self._lock = threading.Lock()

    def issue(self, run_id: str) -> str:
        token = "w" + secrets.token_urlsafe(24)
        with self._lock:
            self._by_token[token] = run_id
        return token

    def adopt(self, token: str, run_id: str) -> None:
        """Accept again the token a worker that outlived an engine still holds (a Ray actor the next engine adopts):
        the scheduler calls this only for the workers its backend hands back for runs that are running."""
        if token.startswith("w"):
            with self._lock:
                self._by_token[token] = run_id

    def revoke(self, run_id: str) -> None:
        with self._lock:
            for token in [t for t, r in self._by_token.items() if r == run_id]:
                del self._by_token[token]

    def run_of(self, token: str) -> str | None:
        with self._lock:
            return self._by_token.get(token)


def caller_of(request: Request) -> Caller:
    """The Caller the guard put on the request (FastAPI dependency)."""
    return request.scope.get("state", {}).get("caller", OWNER)


def need_owner(caller: Caller, what: str) -> None:
    if not caller.is_owner:
        raise HTTPException(403, f"only the server's owner can {what}; log in as the owner in the studio")


class Guard:
    """ASGI middleware: who is calling (401 when nobody), what a worker token may reach (403), and the request
    body limit (413), all before the app reads anything."""

    def __init__(self, app: Any, engine: Any):
        self.app, self.engine = app, engine
        self.expected = f"Bearer {engine.token}".encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            caller = self._caller(scope, headers)
        except HTTPException as exc:
            await JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                               headers={"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None)(
                scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        if caller.role != "worker":  # workers post whole stages of predictions at once
            limit = self.engine.policy.max_body_bytes
            size = headers.get(b"content-length")
            if size is not None and size.isdigit() and int(size) > limit:
                await _too_large(limit)(scope, receive, send)
                return
            receive = _counting(receive, limit)
        await self.app(scope, receive, send)

    def _caller(self, scope: dict, headers: dict[bytes, bytes]) -> Caller:
        got = headers.get(b"authorization", b"")
        if got and hmac.compare_digest(got, self.expected):
            visitor = headers.get(api.VISITOR_HEADER.lower().encode())
            if visitor is None or not self.engine.policy.public:
                return OWNER
            caller = self.engine.identities.verify(visitor.decode(errors="replace"),
                                                   self.engine.policy.owner_password)
            if caller is None:
                raise HTTPException(401, "this visitor identity is not valid (the server's secret changed, or it "
                                         "was edited); reload the page to get a new one")
            return caller
        token = got.decode(errors="replace").removeprefix("Bearer ")
        run_id = self.engine.workers.run_of(token) if token.startswith("w") else None
        if run_id is None:
            raise HTTPException(401, ("missing or wrong token: send 'Authorization: Bearer <token>' with the token "
                                      "from the engine's engine.json in the data directory") if got else
                                "missing token: send 'Authorization: Bearer <token>' with the token from engine.json "
                                "in the data directory")
        for method, pattern in WORKER_ROUTES:
            match = pattern.match(scope["path"])
            if scope["method"] == method and match and match.groupdict().get("run", run_id) == run_id:
                return Caller("worker", run_id=run_id)
        raise HTTPException(403, f"a worker token reaches only its own run ({run_id}): its config, its events, its "
                                 "stage claims and the stage cache")


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"detail": f"request body over this server's limit of {limit / 2**20:g} MB (owner "
                                   "setting W2S_MAX_BODY_MB); upload a smaller file"}, status_code=413)


def _counting(receive: Any, limit: int) -> Any:
    """A receive that stops a body without Content-Length (chunked) once it passes the limit."""
    seen = 0

    async def wrapped() -> dict:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, f"request body over this server's limit of {limit / 2**20:g} MB (owner "
                                         "setting W2S_MAX_BODY_MB); upload a smaller file")
        return message

    return wrapped
