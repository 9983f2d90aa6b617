"""Start Weak-to-Strong Studio: the engine (if none is running) and the Gradio app.

    w2s studio [--port 7860] [--host 127.0.0.1]      # the same as `python launch.py` or `python -m studio`
    W2S_HOME=/tmp/w2s w2s studio                      # another data directory (database, logs, uploads)

Also what the Hugging Face Space's app file runs: with SPACE_ID set it binds 0.0.0.0. Environment:
W2S_STUDIO_HOST / W2S_STUDIO_PORT (else GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, else 127.0.0.1:7860),
W2S_HOME (data directory, default ~/.w2s), W2S_WORKERS (worker slots of an engine started here).
The studio talks to the engine only through engine.client; it never imports torch or duckdb.
"""

from __future__ import annotations

import argparse
import os
import sys


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
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from engine.client import EngineError, ensure_engine

    workers = args.workers if args.workers is not None else os.environ.get("W2S_WORKERS")
    try:
        client = ensure_engine(workers=int(workers) if workers else None)
    except EngineError as exc:
        print(f"error: could not start the engine: {exc}", file=sys.stderr)
        return 1
    from studio.app import build_app, launch_options

    demo = build_app(client)
    demo.queue(default_concurrency_limit=8)
    host, port = address(args.host, args.port)
    shown = "127.0.0.1" if host == "0.0.0.0" else host
    print(f"Weak-to-Strong Studio: http://{shown}:{port}  (engine {client.url})", flush=True)
    demo.launch(server_name=host, server_port=port, show_error=True, **launch_options())
    return 0


if __name__ == "__main__":
    sys.exit(main())
