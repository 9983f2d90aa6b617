"""Start Weak-to-Strong Studio: the engine (if none is running) and the Gradio app.

    w2s studio [--port 7860] [--host 127.0.0.1]      # the same as `python launch.py` or `python -m studio`
    W2S_HOME=/tmp/w2s w2s studio                      # another data directory (database, logs, uploads)

Also what the Hugging Face Space's app file runs: with SPACE_ID set it binds 0.0.0.0 and the engine it starts is in
public mode (so is one started with --public; engine/server/policy.py lists the rules and caps). Environment:
W2S_STUDIO_HOST / W2S_STUDIO_PORT (else GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, else 127.0.0.1:7860),
W2S_HOME (data directory, default ~/.w2s), W2S_WORKERS (worker slots of an engine started here).
The studio talks to the engine only through engine.client; it never imports torch or duckdb.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def address(host: str | None = None, port: int | None = None) -> tuple[str, int]:
    host = host or os.environ.get("W2S_STUDIO_HOST") or os.environ.get("GRADIO_SERVER_NAME")
    if not host:
        host = "0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1"
    port = port or int(os.environ.get("W2S_STUDIO_PORT") or os.environ.get("GRADIO_SERVER_PORT") or 7860)
    return host, port


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="w2s studio", description="Start the engine (if none runs) and the studio.")
    p.add_argument("--host", help="address to bind (default 127.0.0.1; 0.0.0.0 on a Space)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument("--workers", type=int, help="worker slots of an engine started here (default: one per GPU)")
    p.add_argument("--public", action="store_true", help="public mode (on by itself on a Space): visitors kept "
                   "apart, uploads and catalogue models only, caps; the engine must be in public mode too")
    return p


def _engine(workers: int | None, public: bool):
    """The running engine (started if none runs) as the studio sees it (studio.source.Source), with what building
    the app asks of it already fetched and kept by the Source: its mode and limits, the registry and the presets
    (about 0.15 s of answers, most of it the presets; this runs while Gradio imports)."""
    from engine.client import ensure_engine
    from studio.source import Source

    source = Source(ensure_engine(workers=workers, public=public))
    source.policy()
    source.registry()
    source.presets()
    return source


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Start-up makes some 350,000 objects for the collector to track, nearly all of them live as long as the app
    # (Gradio's modules and classes, the components, their configs), and the cyclic collector walks them again and
    # again while they are made: about a tenth of the start. It stays off until the app serves; then what exists
    # is frozen (gc.freeze: later collections skip it, so no request pays for it either; the little garbage start-up
    # left, such as the apps Gradio builds and replaces on the way, stays with it) and the collector is on again.
    gc.disable()
    try:
        return _main(args)
    finally:
        gc.enable()


def gradio_defaults() -> None:
    """Gradio's settings for the studio, as environment variables, before any gr.Blocks exists: no analytics, and
    events run up to 8 at a time. Blocks() sets its queue up with that default; a demo.queue(...) call to set it
    would make Gradio build the whole app's config and routes once more (about 0.15 s of the start)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GRADIO_DEFAULT_CONCURRENCY_LIMIT", "8")


def serve(demo: Any, block: bool = True, **options: Any) -> None:
    """demo.launch(**options), then the collector on again with what start-up made frozen (main says why); with
    block, serve until interrupted (what launch() itself does without prevent_thread_lock)."""
    demo.launch(prevent_thread_lock=True, **options)
    gc.freeze()
    gc.enable()
    if block:
        demo.block_thread()


def _main(args: argparse.Namespace) -> int:
    gradio_defaults()
    from engine.client import EngineError

    workers = args.workers if args.workers is not None else os.environ.get("W2S_WORKERS")
    # Reaching (or starting) the engine waits on another process; importing Gradio is this process's CPU work:
    # do both at once, so a cold start pays the longer of the two instead of their sum.
    with ThreadPoolExecutor(1, thread_name_prefix="w2s-engine") as pool:
        engine = pool.submit(_engine, int(workers) if workers else None, args.public)
        from studio.app import build_app, launch_options
    try:
        source = engine.result()
    except EngineError as exc:
        print(f"error: could not start the engine: {exc}", file=sys.stderr)
        return 1
    client, policy = source.client, source.policy()
    public = bool(policy.get("public"))
    host, port = address(args.host, args.port)
    if (args.public or os.environ.get("SPACE_ID")) and not public:
        print(f"error: the engine at {client.url} runs in local mode, but this studio is public; stop that engine "
              "(it then starts again in public mode) or start the studio without --public", file=sys.stderr)
        return 1
    if host not in ("127.0.0.1", "localhost", "::1") and not public:
        print(f"warning: the studio listens on {host} with an engine in local mode: whoever reaches it may read "
              "server files and run any model; use --public for a shared studio", file=sys.stderr)

    demo = build_app(source)
    shown = "127.0.0.1" if host == "0.0.0.0" else host
    print(f"Weak-to-Strong Studio: http://{shown}:{port}  (engine {client.url}, {'public' if public else 'local'} "
          "mode)", flush=True)
    serve(demo, server_name=host, server_port=port, show_error=True, **launch_options(policy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
