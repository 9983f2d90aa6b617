"""A worker: runs one queued run in its own process and streams its events to the engine.

    python -m engine.run.worker RUN_ID        # started by the engine's scheduler, output to logs/RUN_ID.log
    W2S_ENGINE_URL / W2S_ENGINE_TOKEN     # where the engine is and the run's token (default: engine.json)

It loads the run's stored config, rebuilds the RunSpec, checks that every model folder and data file it names
exists on this machine (the message names the node: a Ray worker may run anywhere), calls
engine.run.execute.execute with a RemoteContext and reports done / failed / cancelled itself. SIGTERM (the
engine's cancel) is turned into a Cancelled at the next training step or labelling batch. Before training a stage
it missed in the cache it claims it, so two runs never train the same stage at once. Everything goes through the
HTTP API, so the same worker can run on another machine against the same engine.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from typing import Any

from engine import paths
from engine.client import EngineClient, EngineError, connect
from engine.run.context import Cancelled, RunContext, coalesce

BATCHED = ("metrics", "progress")  # small and frequent: sent together; everything else flushes at once


class RemoteContext(RunContext):
    """Sends a run's events to the engine from a thread of its own, in order, so that training never waits for
    the engine to store what it reports (a stage's predictions, its training-dynamics points, curve points: DuckDB
    writes on the engine's side). Metrics and progress are batched (handed over at most every `flush_every`
    seconds), everything else at once; what arrives while a post is on its way goes in the next one. The run
    waits only where it reads what it wrote: before a cache lookup or a stage claim, and at close (`flush`). A
    post that fails pauses the sender; the run sees the error at its next event (`emit` raises it)."""

    def __init__(self, client: EngineClient, run_id: str, flush_every: float = 0.5, max_batch: int = 500):
        super().__init__(run_id)
        self.client, self.flush_every, self.max_batch = client, flush_every, max_batch
        self.attempt = uuid.uuid4().hex[:12]  # with seq, lets the engine drop a retried batch it already has
        self.seq = 0
        self.buffer: list[dict[str, Any]] = []  # events not yet handed to the sender
        self.outbox: list[dict[str, Any]] = []  # handed over, not yet posted (after a failed post: that batch first)
        self.last_flush = time.monotonic()
        self.stop_requested = False
        self.error: BaseException | None = None  # the last failed post's, until the run is told
        self.paused = False  # a post failed: nothing more is sent until the run hands over again
        self._busy = False  # a post is on its way
        self._closing = self._running = False
        self._cv = threading.Condition()
        self._sender: threading.Thread | None = None

    def emit(self, event: dict[str, Any]) -> None:
        self._raise_error()
        if event["type"] == "progress":  # only the latest progress of a stage is worth sending
            self.buffer = [e for e in self.buffer if not (e["type"] == "progress" and e["stage"] == event["stage"])]
        self.buffer.append(event)
        if (event["type"] not in BATCHED or len(self.buffer) >= self.max_batch
                or time.monotonic() - self.last_flush >= self.flush_every):
            self.hand_over()

    def hand_over(self) -> None:
        """Give the buffered events to the sender (which posts them in order) without waiting for the engine; after
        a failed post, the sender tries again from the batch that failed."""
        with self._cv:
            if not self.buffer and not self.outbox:
                return
            self.outbox.extend(self.buffer)
            self._closing = False
            if self.error is None:  # a failed post is tried again only once the run was told of it
                self.paused = False
            if not self._running:  # the first events, or after close (a last word): a sender again
                self._running = True
                self._sender = threading.Thread(target=self._send_loop, name="w2s-events", daemon=True)
                self._sender.start()
            self._cv.notify_all()
        self.buffer = []
        self.last_flush = time.monotonic()

    def flush(self) -> None:
        """Send everything and wait until the engine has stored it (raises what a failed post raised)."""
        self._raise_error()
        self.hand_over()
        with self._cv:
            self._cv.wait_for(lambda: self.error is not None or not (self.outbox or self._busy))
        self._raise_error()

    def drop_failed(self) -> None:
        """After a failed post: forget the events that were not sent but metrics and progress (an event the engine
        refused is not resent with the run's last word)."""
        with self._cv:
            self._cv.wait_for(lambda: not self._busy)
            self.error = None
            if self.paused:
                self.outbox = [e for e in self.outbox if e["type"] in BATCHED]
        self.buffer = [e for e in self.buffer if e["type"] in BATCHED]

    def _raise_error(self) -> None:
        with self._cv:
            error, self.error = self.error, None
        if error is not None:
            raise error

    def _send_loop(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: (self.outbox and not self.paused) or self._closing)
                if not self.outbox or self.paused:
                    self._running = False
                    return
                batch, self.outbox, self._busy = self.outbox, [], True
            try:
                reply = self.client.post_events(self.run_id, self.attempt, self.seq, coalesce(batch))
            except BaseException as exc:  # kept for the run to see; the batch waits to be resent (or dropped)
                with self._cv:
                    self.outbox = batch + self.outbox
                    self.error, self.paused, self._busy = exc, True, False
                    self._cv.notify_all()
                continue
            with self._cv:
                self.seq += 1
                self._busy = False
                if reply.cancelled:
                    self.stop_requested = True
                self._cv.notify_all()

    def stage_lookup(self, key: str) -> dict[str, dict[str, list]] | None:
        self.flush()
        return self.client.stage_lookup(key)

    def claim_stage(self, key: str, role: str) -> bool:
        """Ask the engine to train `key`; while another live run trains it, wait (long-polls) and then read it."""
        self.flush()
        waiting = False
        while True:
            reply = self.client.claim_stage(self.run_id, key, wait=20.0 if waiting else 0.0)  # first: say why we wait
            if reply.cancelled:
                self.stop_requested = True
            self.check_cancelled()
            if reply.state != "wait":
                if waiting:
                    print(f"{role}: run {reply.holder} finished stage {key}" if reply.state == "done" else
                          f"{role}: the run training stage {key} stopped; training it here", flush=True)
                return reply.state == "train"
            if not waiting:
                print(f"{role}: stage {key} is being trained by run {reply.holder}; waiting for it", flush=True)
                waiting = True

    def dynamics_lookup(self, key: str) -> dict[str, list] | None:
        self.flush()
        return self.client.stage_dynamics(key)

    def cancelled(self) -> bool:
        return self.stop_requested

    def on_progress(self, stage: str, step: int, total: int, unit: str, eta: float | None) -> None:
        self.emit({"type": "progress", "run_id": self.run_id, "stage": stage, "step": step, "total": total,
                   "unit": unit, "eta": eta})
        if step >= total or step % max(1, total // 10) == 0:
            print(f"{stage}: {step}/{total} {unit}" + (f", ETA {eta:.0f} s" if eta is not None else ""), flush=True)

    def report(self, status: str, error: str | None = None, log_tail: str | None = None) -> None:
        self.emit({"type": "run_status", "run_id": self.run_id, "status": status, "error": error,
                   "log_tail": log_tail})

    def close(self) -> None:
        try:
            self.flush()
        finally:
            with self._cv:
                self._closing = True
                self._cv.notify_all()
                sender = self._sender
            if sender is not None:
                sender.join(timeout=5)
            super().close()


def run_worker(client: EngineClient, run_id: str) -> int:
    """Run `run_id` to the end and report it; the exit code is 0 unless it failed."""
    from engine.config import spec_from_dict
    from engine.run.execute import describe_error, execute

    ctx = RemoteContext(client, run_id)
    signal.signal(signal.SIGTERM, lambda *_: setattr(ctx, "stop_requested", True))
    try:
        run = client.run(run_id, retry_for=client.retry_for)
        spec, ctx.tags = spec_from_dict(run.config or {}), run.tags
        print(f"worker pid {os.getpid()} on {paths.node_name()}: run {run_id}: {spec.method} seed {spec.seed} on "
              f"{spec.task}, {spec.weak} -> {spec.strong}", flush=True)
        check_local_paths(spec)
        summary = execute(spec, ctx)
        ctx.report("done")
        ctx.close()
        print(f"run {run_id} done: " + ", ".join(f"{k}={v:.3f}" for k, v in summary.items()
                                                  if isinstance(v, float)), flush=True)
        return 0
    except (Cancelled, KeyboardInterrupt):
        print(f"run {run_id} stopped", flush=True)
        return _last_word(ctx, "cancelled", "stopped by the user", None, 0)
    except Exception as exc:
        tail = traceback.format_exc()
        print(tail, file=sys.stderr, flush=True)
        return _last_word(ctx, "failed", describe_error(exc), tail[-4000:], 1)


def check_local_paths(spec: Any) -> None:
    """Every model folder and data file the run names must exist here; the error names this machine, since a
    cluster may have placed the worker on a node that lacks what the engine's machine has."""
    from engine.config import ConfigError
    from engine.plan import local_paths

    missing = [f"{what} {path}" for what, path in local_paths(spec) if not os.path.exists(path)]
    if missing:
        raise ConfigError(f"{'; '.join(missing)}: not found on node {paths.node_name()}; put it at the same path on "
                          "every node (a shared filesystem), or use a hub id")


def _last_word(ctx: RemoteContext, status: str, error: str, tail: str | None, code: int) -> int:
    """Report the outcome; if the engine cannot take it, say so in the log (the engine reads it when we exit)."""
    try:
        ctx.drop_failed()  # an event that failed is not resent
        ctx.report(status, error, tail)
        ctx.close()
    except EngineError as exc:
        print(f"could not report '{status}' to the engine: {exc}", file=sys.stderr, flush=True)
        return code or 1
    return code


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine.run.worker", description=__doc__.splitlines()[0])
    ap.add_argument("run_id")
    ap.add_argument("--url", default=os.environ.get("W2S_ENGINE_URL"), help="engine URL (default: engine.json)")
    args = ap.parse_args(argv)
    token = os.environ.get("W2S_ENGINE_TOKEN")
    try:
        client = EngineClient(args.url, token) if args.url and token else connect()
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with client:
        return run_worker(client, args.run_id)


if __name__ == "__main__":
    from engine.ml.callbacks import exit_process

    exit_process(main())
