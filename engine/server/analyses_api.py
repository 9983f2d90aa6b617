"""The engine's routes over the analyses (engine.server.analyses): training dynamics and statistics across seeds.

    GET /api/runs/{run}/dynamics                         per role, split and checkpoint: accuracy (split by weak right
                                                         / wrong) and agreement with the weak labels
    GET /api/runs/{run}/dynamics/trajectory?example_id=  one example's p(1) over the steps, per role
    GET /api/runs/{run}/dynamics/cartography?split=test&role=student&label=gold   mean confidence and variability
    GET /api/stats/seeds?metric=pgr&task=...             per setup: mean and median over seeds with intervals
    GET /api/stats/compare?a=naive&b=aux_conf&metric=pgr paired comparison of two methods on the same seeds
    GET /api/runs/{run}/analysis?metric=pgr              the run, its dynamics, its task's seed statistics and its
                                                         method paired with the others: the three above in one
    GET /api/stages/{key}/dynamics                       a finished stage's evaluation points (workers: the cache)

engine.server.app includes the router; a visitor's statistics count only the runs that visitor may see.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from engine import api
from engine.server.auth import Caller, caller_of, need_owner
from engine.server.engine import Engine, as_table, clean, json_response

WHO = Depends(caller_of)


def analyses_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["analyses"])
    store = engine.store

    @router.get("/runs/{run_id}/dynamics", response_model=api.Table)
    def dynamics(run_id: str, caller: Caller = WHO) -> Response:
        """Training dynamics of every role: per split and checkpoint, step, epoch, accuracy, accuracy where the weak
        label is right / wrong, agreement with the weak labels."""
        engine.need_run(run_id, caller)
        return json_response(as_table(store.dynamics_summary(run_id)))

    @router.get("/runs/{run_id}/dynamics/trajectory", response_model=api.Table)
    def trajectory(run_id: str, example_id: str = Query(..., max_length=200), caller: Caller = WHO) -> Response:
        """One example's p(1) and p(gold) at every evaluation point of every role that tracked it."""
        engine.need_run(run_id, caller)
        return json_response(as_table(store.trajectory(run_id, example_id)))

    @router.get("/runs/{run_id}/dynamics/cartography", response_model=api.Table)
    def cartography(run_id: str, split: str = Query("test", max_length=40), role: str = Query("student", max_length=80),
                    label: str = Query("gold", pattern="^(gold|weak)$"), caller: Caller = WHO) -> Response:
        """Per example: mean confidence in `label` over training, its variability, region and final quadrant."""
        engine.need_run(run_id, caller)
        return json_response(as_table(store.cartography(run_id, split, role, label)))

    @router.get("/stats/seeds", response_model=api.Table)
    def seeds(metric: str = Query("pgr", max_length=80), task: str | None = Query(None, max_length=200),
              alpha: float = Query(0.05, gt=0, lt=1), caller: Caller = WHO) -> Response:
        """Per setup (a config up to its seed): runs, seeds, mean and median of `metric` with their intervals."""
        from engine.comparison import seed_table

        df = store.seed_values(metric, task, None if caller.is_owner else caller.owner_id)
        return json_response(as_table(seed_table(df, alpha)))

    @router.get("/stats/compare", response_model=api.Table)
    def compare(a: str = Query(..., max_length=80), b: str | None = Query(None, max_length=80),
                metric: str = Query("pgr", max_length=80), task: str | None = Query(None, max_length=200),
                alpha: float = Query(0.05, gt=0, lt=1), caller: Caller = WHO) -> Response:
        """Method `b` (every other one when empty) against `a` on the same seeds: difference with its interval and
        the sign test, one row per pair of setups that differ only in the method."""
        from engine.comparison import compare_table

        df = store.seed_values(metric, task, None if caller.is_owner else caller.owner_id)
        return json_response(as_table(compare_table(df, a, b or None, alpha)))

    @router.get("/runs/{run_id}/analysis", response_model=api.RunAnalysis, responses={404: {"model": api.ErrorBody}})
    def analysis(run_id: str, metric: str = Query("pgr", max_length=80), alpha: float = Query(0.05, gt=0, lt=1),
                 caller: Caller = WHO) -> Response:
        """The run, its training dynamics, the statistics across seeds of its task's setups and (once it is done)
        its method against every other on the same seeds: what the studio's Results section shows, one request
        and one read of the seeds' values instead of four requests."""
        from engine.comparison import compare_table, seed_table

        run = engine.run_view(run_id, caller)
        values = store.seed_values(metric, run.get("task"), None if caller.is_owner else caller.owner_id)
        paired = compare_table(values, run.get("method"), None, alpha) if run.get("status") == "done" else None
        return json_response({"run": run, "dynamics": as_table(store.dynamics_summary(run_id)),
                              "seeds": as_table(seed_table(values, alpha)),
                              "paired": None if paired is None else as_table(paired)})

    @router.get("/stages/{key}/dynamics", response_model=api.StageDynamics)
    def stage_dynamics(key: str, caller: Caller = WHO) -> Response:
        """A finished stage's evaluation points (checkpoint, step, epoch, split, id, prob), or found=false."""
        if caller.role != "worker":
            need_owner(caller, "read the stage cache")
        found = store.dynamics_lookup(key)
        return json_response({"found": found is not None, "dynamics": clean(found)})

    return router
