"""The engine API's request and response types (pydantic; no torch, transformers or duckdb), and the one
vocabulary every layer shares: run statuses, the weak-vs-student quadrants, the knowledge regions and the
deception-score formulas.

    from engine.api import SubmitRequest, Run, QUADRANTS, REGIONS
    SubmitRequest(config={"task": "toy_sentiment", "methods": ["naive"]})
    QUADRANTS["student_fixed"].label              # "student fixed weak error"

The server declares its endpoints with these models (so FastAPI's /docs page documents them) and the
client parses replies into them. Tables (runs, curves, prediction pages) travel as columns:
`{"columns": [...], "data": {column: [values]}}`, which `pandas.DataFrame(page.data)` turns back into
a frame without this module importing pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

# ------------------------------------------------------------------------------------------------- vocabulary
RunStatus = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
TERMINAL = ("done", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")                    # not finished yet
CANCELLABLE = ACTIVE                              # what Stop applies to
REQUEUEABLE = ("interrupted", "failed", "cancelled")  # what Requeue applies to
TOKEN_HEADER = "Authorization"  # value: "Bearer <token from engine.json>"
VISITOR_HEADER = "X-W2S-Visitor"  # public mode: the signed identity of the studio visitor a request is for


@dataclass(frozen=True)
class QuadrantDef:
    """Weak supervisor vs strong student on one example (binary labels): Burns et al.'s 2x2."""

    key: str
    label: str
    short: str
    weak_right: bool
    student_right: bool


Quadrant = Literal["both_right", "student_fixed", "student_imitated", "student_broke"]
QUADRANTS: dict[str, QuadrantDef] = {q.key: q for q in (
    QuadrantDef("student_fixed", "student fixed weak error", "fixed", False, True),
    QuadrantDef("student_imitated", "student imitated weak error", "imitated", False, False),
    QuadrantDef("student_broke", "student broke a right label", "broke", True, False),
    QuadrantDef("both_right", "both right", "both right", True, True),
)}


@dataclass(frozen=True)
class RegionDef:
    """Yang et al. 2024's knowledge regions: the ground-truth-trained weak model (W) and the ceiling (S) right
    (k, knows) or wrong (uk) on one example."""

    key: str
    label: str
    meaning: str
    weak_knows: bool
    strong_knows: bool


Region = Literal["Wk_Sk", "Wk_Suk", "Wuk_Sk", "Wuk_Suk"]
REGIONS: dict[str, RegionDef] = {r.key: r for r in (
    RegionDef("Wk_Sk", "W_k ∩ S_k", "weak knows, strong knows", True, True),
    RegionDef("Wk_Suk", "W_k ∩ S_uk", "weak knows, strong does not", True, False),
    RegionDef("Wuk_Sk", "W_uk ∩ S_k", "weak does not, strong knows (deception zone)", False, True),
    RegionDef("Wuk_Suk", "W_uk ∩ S_uk", "neither knows", False, False),
)}
DECEPTION_ZONE = "Wuk_Sk"  # a deception case: an example of this region that the student gets wrong
DS_FORMULAS = {
    "ds_a": "|S_k ∩ W_uk ∩ student wrong| / |S_k ∩ W_uk|",
    "ds_b": "|S_k ∩ W_uk ∩ student wrong| / |student wrong|",
    "ds_c": "|S_k ∩ W_uk ∩ new error| / |new error| (new error: right without conflict, wrong with it)",
}
# Swayamdipta et al. 2020's data-map regions over training: ambiguous at a variability (sd of p(label)) of at least
# MAP_AMBIGUOUS, else easy to learn at a confidence (mean p(label)) of at least MAP_EASY, else hard to learn.
MAP_AMBIGUOUS = 0.2
MAP_EASY = 0.5
assert set(QUADRANTS) == set(get_args(Quadrant)) and set(REGIONS) == set(get_args(Region))  # one list each


# ------------------------------------------------------------------------------------------------- wire types


class Strict(BaseModel):
    """Requests reject unknown fields, so a typo is an error instead of a silently ignored setting."""

    model_config = ConfigDict(extra="forbid")


OnDuplicate = Literal["create", "skip", "refuse"]


class SubmitRequest(Strict):
    config: dict[str, Any] = Field(description="The experiment config, as in the YAML/JSON the CLI takes.")
    tags: str | None = Field(default=None, description="Free text stored with each run.")
    on_duplicate: OnDuplicate = Field(default="create", description="A run whose setup and seed an existing run "
                                      "(queued, running or done) already has: create it anyway, skip it, or refuse "
                                      "the whole submit (409).")


class PublicRequest(Strict):
    public: bool = Field(description="True: every visitor of a public studio sees the run (a shared demo run).")


class OwnerLogin(Strict):
    password: str = Field(max_length=1000)


class TagsRequest(Strict):
    tags: str | None = Field(description="Free text stored with the run (comma-separated words by convention).")


class Duplicate(BaseModel):
    """An existing run with the same setup (config_key) and seed as one a config asks for."""

    run_id: str
    status: RunStatus
    method: str | None = None
    seed: int | None = None
    config_key: str


class ValidateResponse(BaseModel):
    ok: bool = True
    runs: int = Field(description="How many runs the config expands to (methods x seeds).")
    specs: list[dict[str, Any]] = Field(description="Each run's fully resolved settings.")
    notes: list[str] = Field(default_factory=list, description="What loading the data did: rows skipped, labels "
                                                               "mapped.")
    config_keys: list[str] = Field(default_factory=list, description="Each run's setup identity (config minus seed "
                                                                     "and name), in the order of specs.")
    duplicates: list[Duplicate] = Field(default_factory=list, description="Queued, running or done runs that "
                                        "already have one of these setups and seeds.")


class SubmitResponse(BaseModel):
    sweep: str | None = Field(description="None when every run was skipped as a duplicate.")
    run_ids: list[str]
    notes: list[str] = Field(default_factory=list)
    duplicates: list[Duplicate] = Field(default_factory=list, description="Existing runs of the same setup and "
                                        "seed: created again (on_duplicate=create) or skipped.")
    skipped: int = 0


class DeleteReply(BaseModel):
    run_id: str
    runs: int
    stages: int = Field(description="Stages removed with it (collect=true: those no other run uses).")
    predictions: int = Field(description="Prediction rows removed with those stages.")


class Progress(BaseModel):
    stage: str
    step: int
    total: int
    unit: str = "step"
    eta: float | None = Field(default=None, description="Seconds left in this stage, from the rate so far.")
    updated: float = Field(description="Engine clock (unix seconds) when it arrived.")


class Table(BaseModel):
    columns: list[str]
    data: dict[str, list[Any]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in zip(*(self.data[c] for c in self.columns))]


class Run(BaseModel):
    """One run: its row in the runs table plus live state the engine keeps in memory."""

    model_config = ConfigDict(extra="allow")
    id: str
    status: RunStatus
    task: str | None = None
    weak: str | None = None
    strong: str | None = None
    method: str | None = None
    seed: int | None = None
    sweep: str | None = None
    created: str | None = None
    started: str | None = None
    finished: str | None = None
    error: str | None = None
    tags: str | None = None
    log_tail: str | None = None
    config: dict[str, Any] | None = None
    stages: list[dict[str, Any]] = Field(default_factory=list)
    worker_pid: int | None = None
    progress: Progress | None = None
    config_key: str | None = Field(default=None, description="The run's setup: its config minus seed and name.")
    curves: Table | None = Field(default=None, description="With curves=true: its training curves.")
    log: str | None = Field(default=None, description="With log=true: the end of its worker log.")


class Counts(BaseModel):
    """The Inspector's grids for a run's split, computed by the engine in one statement."""

    total: int = Field(description="Rows of the split (whatever the filters).")
    scored: int = Field(default=0, description="Rows with both a weak and a student prediction: the 2x2's total.")
    predicted: dict[str, int] = Field(default_factory=dict, description="Rows each model (weak, student, ceiling) "
                                      "predicted on this split.")
    quadrants: dict[str, int] = Field(default_factory=dict, description="Rows per weak-vs-student quadrant.")
    regions: dict[str, int] = Field(default_factory=dict, description="Rows per knowledge region (weak x ceiling).")
    deception: int | None = Field(default=None, description="Deception cases: W_uk ∩ S_k and the student wrong.")
    compared: int | None = Field(default=None, description="Rows the compared run's student also predicted.")


class Page(Table):
    total: int = Field(description="Rows matching the filters (all pages).")
    offset: int
    limit: int
    counts: Counts | None = Field(default=None, description="With counts=true: the split's grid counts.")


class Metrics(BaseModel):
    metrics: dict[str, float | str | None]


class LogTail(BaseModel):
    run_id: str
    path: str
    text: str


class EventBatch(Strict):
    """What a worker posts: events in order (types mirror engine.run.context.RunContext), plus a batch number
    so a retried post after a lost reply is applied once."""

    attempt: str = Field(description="Identifies one worker process for this run.")
    seq: int = Field(description="Batch number within the attempt, from 0.")
    events: list[dict[str, Any]]


class EventReply(BaseModel):
    applied: int
    cancelled: bool = Field(description="True when the run was cancelled: the worker should stop.")


class StageLookup(BaseModel):
    found: bool
    predictions: dict[str, dict[str, list[Any]]] | None = None


class StageClaim(BaseModel):
    """The engine's answer to a worker that is about to train a stage it did not find in the cache."""

    state: Literal["train", "wait", "done"] = Field(description="train: this run trains it; done: read it from the "
                                                                "cache; wait: another live run trains it, ask again.")
    holder: str | None = Field(default=None, description="The run that trains (or trained) the stage.")
    cancelled: bool = Field(default=False, description="True when the asking run was cancelled: stop.")


class RunAnalysis(BaseModel):
    """A run's training dynamics and the statistics across seeds beside it, in one answer (the studio's Results
    section): the same tables as GET /api/runs/{run}/dynamics, /api/stats/seeds?task= and /api/stats/compare?a=."""

    run: Run
    dynamics: Table = Field(description="As GET /api/runs/{run}/dynamics.")
    seeds: Table = Field(description="Every setup of the run's task, as GET /api/stats/seeds?task=.")
    paired: Table | None = Field(default=None, description="The run's method against every other on the same seeds "
                                 "(GET /api/stats/compare?a=&task=); only once the run is done.")


class StageDynamics(BaseModel):
    found: bool
    dynamics: dict[str, list[Any]] | None = Field(default=None, description="Columns checkpoint, step, epoch, split, "
                                                                            "id, prob in the order written.")


class WaitReply(BaseModel):
    version: int = Field(description="Pass it back as `since` to wait for the next change.")
    changed: bool


FieldKind = Literal["bool", "int", "float", "str", "choice", "list", "mapping", "any"]


class FieldDoc(BaseModel):
    """One setting of a config dataclass, typed so a form can be built without parsing type strings."""

    name: str
    kind: FieldKind = Field(description="The widget family: bool, int, float, str, choice (one of `choices`), "
                                        "list (of `item`), mapping or any.")
    optional: bool = Field(default=False, description="None (empty) is allowed and means 'use the default rule'.")
    choices: list[Any] | None = Field(default=None, description="The allowed values of a choice field.")
    item: FieldKind | None = Field(default=None, description="The kind of a list field's items.")
    type: str = Field(default="", description="The annotation as written in the dataclass (for docs only).")
    default: Any = None
    help: str = ""


class RegistryEntry(BaseModel):
    name: str
    description: str = ""
    fields: list[FieldDoc] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict, description="kind, version, task_kinds, source, ...")


class Registry(BaseModel):
    tasks: list[RegistryEntry]
    models: list[RegistryEntry]
    methods: list[RegistryEntry]
    train: list[FieldDoc] = Field(description="Settings under `train:` shared by every stage.")
    experiment: list[FieldDoc] = Field(description="Top-level keys of an experiment config.")
    train_roles: list[str] = Field(default_factory=list, description="Roles `train.roles` may override "
                                   "(weak, student, ceiling, ...), each with any of the `train` settings.")


class Preset(BaseModel):
    name: str
    label: str
    description: str = ""
    config: dict[str, Any]


class Upload(BaseModel):
    name: str = Field(description="The name it was uploaded under.")
    path: str = Field(description="What to use as a file task's path: the server path in local mode, the "
                                  "reference upload:<name> in public mode.")
    ref: str = Field(default="", description="upload:<name>, which a task accepts in either mode.")
    bytes: int
    missing: dict[str, int] = Field(default_factory=dict, description="Empty cells per column (such rows are "
                                                                      "skipped).")
    expires_in_hours: float | None = None
    rows: int
    columns: list[str]
    distinct: dict[str, int] = Field(description="Distinct non-missing values per column.")
    values: dict[str, list[Any]] = Field(description="Up to 8 distinct values per column.")
    preview: Table = Field(description="The first rows.")


class Health(BaseModel):
    ok: bool
    pid: int
    db: str
    url: str
    backend: str = Field(default="subprocess", description="Where workers run: subprocess (this machine) or ray.")
    workers: int
    gpus: list[str]
    running: list[str]
    queued: int
    version: int
    requests: int = Field(default=0, description="API requests answered since the engine started.")
    statements: int = Field(default=0, description="Read statements run on the database since it started.")
    instance: str = ""
    public: bool = False


class Ping(BaseModel):
    instance: str = Field(description="Which engine process answers (engine.json names the one it describes).")
    pid: int


class PolicyView(BaseModel):
    public: bool
    owner_login: bool = Field(description="Whether an owner password is set.")
    limits: dict[str, float | int | None]
    upload_hours: float
    export_hours: float
    is_owner: bool = False
    settings: list[dict[str, Any]] = Field(default_factory=list, description="Every setting (owner only).")
    hf_home: str | None = Field(default=None, description="The engine's Hugging Face cache (owner only).")


class Visitor(BaseModel):
    visitor: str
    token: str = Field(description="Send it in the X-W2S-Visitor header (public mode).")
    owner: bool = False


class SqlRequest(Strict):
    sql: str = Field(max_length=100_000, description="One read-only statement: SELECT (WITH, SUMMARIZE, DESCRIBE) "
                                                     "or EXPLAIN, on the database's tables.")
    limit: int = Field(10_000, ge=1, le=1_000_000, description="At most this many rows come back.")
    timeout: float = Field(30.0, gt=0, le=600, description="Seconds before the query is interrupted.")
    format: Literal["json", "parquet", "arrow"] = Field("json", description="json: a Table; parquet: a Parquet "
                                                        "file; arrow: an Arrow IPC stream (header X-W2S-Truncated).")


class SqlResult(Table):
    rows: int
    truncated: bool = Field(description="More rows matched than `limit`.")


class GcRequest(Strict):
    older_than_days: float | None = Field(None, ge=0, description="Also remove weights kept longer than this.")
    runs: list[str] = Field(default_factory=list, description="Also remove these runs' weights (stages another "
                                                              "run uses stay).")
    all: bool = Field(False, description="Remove every kept weight (not those of stages training now).")
    dry_run: bool = Field(False, description="Only say what would be removed.")


class GcReply(BaseModel):
    removed: list[dict[str, Any]] = Field(description="stage_key, folder, bytes, reason of each removal.")
    freed: int = Field(description="Bytes removed.")
    kept: int
    kept_bytes: int
    dry_run: bool


class ErrorBody(BaseModel):
    detail: str
