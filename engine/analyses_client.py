"""The engine client's reads of training dynamics and statistics across seeds (engine.server.analyses_api), a
mixin of engine.client.EngineClient: `client.dynamics(run_id)`, `client.compare("naive", "aux_conf")`, ...
Standard library and the wire types only, like the client.
"""

from __future__ import annotations

from typing import Any

from engine import api


class AnalysesClient:
    _call: Any

    def dynamics(self, run_id: str) -> api.Table:
        """Training dynamics per role, split and checkpoint (accuracy split by weak right / wrong, agreement)."""
        return api.Table(**self._call("GET", f"/api/runs/{run_id}/dynamics"))

    def trajectory(self, run_id: str, example_id: str) -> api.Table:
        return api.Table(**self._call("GET", f"/api/runs/{run_id}/dynamics/trajectory",
                                      params={"example_id": example_id}))

    def cartography(self, run_id: str, split: str = "test", role: str = "student", label: str = "gold") -> api.Table:
        return api.Table(**self._call("GET", f"/api/runs/{run_id}/dynamics/cartography",
                                      params={"split": split, "role": role, "label": label}))

    def seed_stats(self, metric: str = "pgr", task: str | None = None) -> api.Table:
        """Per setup (config up to its seed): mean and median of `metric` over seeds with intervals."""
        params = {"metric": metric, **({"task": task} if task else {})}
        return api.Table(**self._call("GET", "/api/stats/seeds", params=params))

    def compare(self, a: str, b: str | None = None, metric: str = "pgr", task: str | None = None) -> api.Table:
        """Method `b` (or every other) against `a` on the same seeds: difference, interval, sign test."""
        params = {"a": a, "metric": metric, **({"b": b} if b else {}), **({"task": task} if task else {})}
        return api.Table(**self._call("GET", "/api/stats/compare", params=params))

    def analysis(self, run_id: str, metric: str = "pgr") -> api.RunAnalysis:
        """The run, its training dynamics, its task's statistics across seeds and (once done) its method paired with
        every other: dynamics(), seed_stats(metric, task) and compare(method, None, metric, task) in one request."""
        return api.RunAnalysis(**self._call("GET", f"/api/runs/{run_id}/analysis", params={"metric": metric}))

    def stage_dynamics(self, key: str) -> dict[str, list] | None:
        reply = api.StageDynamics(**self._call("GET", f"/api/stages/{key}/dynamics", retry_for=15.0))
        return reply.dynamics if reply.found else None
