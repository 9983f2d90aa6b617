"""engine.run.worker's RemoteContext: events go to the engine from a thread of their own, in order, so the run never
waits for the engine to store them, except where it reads what it wrote (a cache lookup, a stage claim, close).

The engine end to end (a real engine and worker processes) is in tests/engine/server/test_scheduler.py and
tests/engine/run/test_zygote.py; here a stand-in for EngineClient holds a post back until the test lets it go,
which a real engine cannot be made to do on cue."""

from __future__ import annotations

import threading

import pytest

from engine import api
from engine.client import EngineError
from engine.run.worker import RemoteContext


class HeldEngine:
    """Records each post_events call; while `hold` is clear a post waits (as a busy engine's DuckDB write)."""

    def __init__(self, fail: int = 0):
        self.posts: list[tuple[int, list[dict]]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.in_post = threading.Event()
        self.fail = fail  # this many posts fail (the engine refused them) before one succeeds
        self.lookups: list[int] = []  # events posted when each stage_lookup came

    def post_events(self, run_id, attempt, seq, events):
        self.in_post.set()
        assert self.hold.wait(30), "the test never let the post go"
        if self.fail:
            self.fail -= 1
            raise EngineError("event 0 (stage_done) was rejected", 400)
        self.posts.append((seq, [dict(e) for e in events]))
        return api.EventReply(applied=len(events), cancelled=False)

    def stage_lookup(self, key):
        self.lookups.append(sum(len(events) for _, events in self.posts))
        return None

    def posted(self) -> list[str]:
        return [e["type"] for _, events in self.posts for e in events]


def test_events_are_posted_in_order_without_the_run_waiting_for_the_engine():
    engine = HeldEngine()
    ctx = RemoteContext(engine, "r1", flush_every=3600)
    engine.hold.clear()
    ctx.stage_start("k1", "weak", "classifier", "m", {})
    assert engine.in_post.wait(30)
    # the engine is still storing the first event: the run goes on, and what it reports meanwhile waits its turn
    ctx.metrics([{"name": "train_loss", "step": 1, "value": 0.5}])
    ctx.stage_done("k1", {"test": {"id": ["a"], "prob": [0.9]}}, 1.0)
    ctx.metrics([{"name": "train_loss", "step": 2, "value": 0.4}])
    assert engine.posts == [] and engine.in_post.is_set()
    engine.hold.set()
    assert ctx.stage_lookup("k2") is None  # a lookup sees everything the run reported before it
    assert engine.lookups == [4]
    # one post for what queued behind the first (the held-back metrics included: a lookup flushes them)
    assert [seq for seq, _ in engine.posts] == [0, 1]
    assert engine.posted() == ["stage_start", "metrics", "stage_done", "metrics"]
    ctx.close()
    assert len(engine.posts) == 2
    assert [r["step"] for _, events in engine.posts for e in events if e["type"] == "metrics" for r in e["rows"]] == [
        1, 2]


def test_a_failed_post_reaches_the_run_and_its_last_word_drops_only_the_refused_event():
    engine = HeldEngine(fail=1)
    ctx = RemoteContext(engine, "r2", flush_every=3600)
    ctx.metrics([{"name": "train_loss", "step": 1, "value": 0.5}])
    with pytest.raises(EngineError, match="rejected"):
        ctx.stage_done("k1", {"test": {"id": ["a"], "prob": [0.9]}}, 1.0)
        ctx.flush()
    assert engine.posts == []
    ctx.drop_failed()  # what the worker does before it reports the failure (engine.run.worker._last_word)
    ctx.report("failed", "EngineError: rejected")
    ctx.close()
    assert engine.posted() == ["metrics", "run_status"]
    assert [seq for seq, _ in engine.posts] == [0]  # the refused batch was never applied: its number is reused


def test_a_post_that_failed_is_sent_again_with_the_next_events():
    engine = HeldEngine(fail=1)
    ctx = RemoteContext(engine, "r3", flush_every=3600)
    ctx.stage_start("k1", "weak", "classifier", "m", {})
    with pytest.raises(EngineError):
        ctx.flush()
    ctx.stage_done("k1", {"test": {"id": ["a"], "prob": [0.9]}}, 1.0)
    ctx.close()
    assert engine.posted() == ["stage_start", "stage_done"]
