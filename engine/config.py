"""Experiment configs: the YAML/JSON a user writes, validated into dataclasses and expanded into runs.

    name: demo
    task: world_size                 # or {name: file, path: data.csv, text_column: review}; or a list of tasks
    weak: world-xs                   # or a list: a grid of every weak x strong pair
    strong: world-l
    methods: [naive, aux_conf]       # a sweep: one run per task x model pair x method x seed
    seeds: [0, 1, 2]
    train: {epochs: 10, batch_size: 32}
    settings: {aux_conf: {aux_coef: 0.75}}
    resources: {num_gpus: 1, memory: 16GB}   # what each run's worker asks a Ray cluster for

`load_config(path)` -> ExperimentConfig; `.expand()` -> list[RunSpec], one per run. Every unknown
key is an error naming the key, a close match and the valid keys, raised before anything trains.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.dynamics import DynamicsSettings, check_settings
from engine.fields import FIELD_KINDS, NOT_SETUP, config_key, field_docs, field_kind  # noqa: F401 (their old home)
from engine.presets import HUB_PRESETS, preset_path, presets  # noqa: F401 (engine.config.presets is public)
from engine.registry import METHODS, TASKS, tracker_names
from engine.roles import check_overrides, did_you_mean, role_family
from engine.sweep import ModelListError, Resources, model_pairs


class ConfigError(ValueError):
    """An invalid config; the message names the field, the value and the fix."""


MAX_SEED = 2**31 - 1  # seeds are stored as INTEGER and seed numpy / torch, which take 0 .. 2**32 - 1
MAX_INT = 2**63 - 1  # any whole number in a config fits a 64-bit integer (DuckDB BIGINT, torch)
MAX_RUNS_PER_SWEEP = 10_000  # methods x seeds, checked before anything is expanded; the engine may set fewer


@dataclass
class ModelSettings:
    lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (peft) instead of all weights."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha."})
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = field(
        default="auto", metadata={"help": "auto: bf16 mixed precision on capable GPUs, fp32 on CPU."}
    )
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Trade compute for memory."})
    train_with_dropout: bool = field(default=False, metadata={
        "help": "Train with the model's own dropout. Off by default, as in Burns et al. and openai/weak-to-strong "
                "(dropout off for determinism): every dropout probability of the loaded model is set to 0."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Run model code from the hub (off: safer)."})
    max_length: int = field(default=512, metadata={
        "help": "Truncate inputs to this many tokens (truncations are counted). Left unset, the task's own default: "
                "512, gsm8k 1024, hendrycks_math 2048 (room for the in-context demonstrations and the solution)."})
    chat_template: Literal["auto", "off"] = field(default="auto", metadata={
        "help": "auto: policies read prompts and write completions through the tokenizer's chat template when it "
                "has one (instruct models), in training, scoring and generation alike; off: plain text."})
    generation_backend: Literal["auto", "hf", "vllm"] = field(default="auto", metadata={
        "help": "auto: vLLM on a CUDA machine where it is installed, else transformers' generate; vllm: require it; "
                "hf: always generate. Same prompts, stop strings and seeds either way."})
    quantization: Literal["none", "4bit"] = field(default="none", metadata={
        "help": "4bit: QLoRA, the frozen base loaded in 4-bit NF4 (bitsandbytes, CUDA only) under fp32 LoRA "
                "adapters; needs lora: true. Set it for one role, e.g. roles: {student: {quantization: 4bit}}."})
    device_map: Literal["none", "auto"] = field(default="none", metadata={
        "help": "auto: spread a model larger than one GPU over every visible GPU (accelerate); none: one device."})

    def __post_init__(self) -> None:
        for name in ("dtype", "chat_template", "generation_backend", "quantization", "device_map"):
            if getattr(self, name) not in (allowed := typing.get_args(typing.get_type_hints(ModelSettings)[name])):
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of {', '.join(allowed)}")
        if self.max_length < 2:
            raise ValueError(f"max_length={self.max_length} is too small; use at least 2")
        if self.quantization == "4bit" and not self.lora:
            raise ValueError("quantization=4bit trains LoRA adapters on a frozen 4-bit base; set lora: true too")


@dataclass
class TrainConfig(ModelSettings, DynamicsSettings):
    """Finetuning settings shared by every stage of a run (weak, ceiling, student)."""

    epochs: float = field(default=2.0, metadata={"help": "Passes over the training half (Burns et al.: 2) for classifiers "
                                                         "and reward models; policy methods set their own epochs."})
    batch_size: int = field(default=32, metadata={"help": "Examples per optimizer step."})
    grad_accum: int = field(default=1, metadata={
        "help": "Split each batch into this many micro-batches (memory). Classifier and reward-model losses are "
                "averaged over the whole batch, so their results do not depend on it."})
    lr: float | None = field(default=None, metadata={
        "help": "Learning rate of every model but the weak one (ceiling, student, intermediates); empty = each "
                "model's catalogue default."})
    weak_lr: float | None = field(default=None, metadata={
        "help": "Learning rate of the weak model; empty = the weak model's catalogue default (not lr), as "
                "openai/weak-to-strong's weak_lr."})
    lr_schedule: str = field(default="cosine", metadata={"help": "cosine, linear or constant."})
    warmup_frac: float = field(default=0.0, metadata={"help": "Fraction of steps of linear lr warm-up."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    report_to: list[str] = field(default_factory=list, metadata={
        "help": "Trackers every trainer logs to: tensorboard, mlflow, wandb (empty = none). Changes no result; "
                "where each writes: README, Trackers."})
    keep_weights: bool = field(default=False, metadata={
        "help": "Keep each trained stage's model (or LoRA adapter) as a Hugging Face folder, listed with the run "
                "(`w2s weights RUN`); changes no result. Removed by `w2s gc`."})
    eval_batch_size: int = field(default=64, metadata={"help": "Batch size when labelling and evaluating."})
    roles: dict[str, dict[str, Any]] | None = field(default=None, metadata={
        "help": "Per-role overrides of these settings, e.g. {weak: {lr: 5e-5, lora: false}, student: {lora: true}}. "
                "Roles: weak, student (the strong student; also Stage I, delta's SFT baseline and a conflict run's "
                "plain student unless named), ceiling (also weak_teacher's human-label reference), stage1, sft, "
                "intermediate (bootstrap and via models). A role's lr wins over weak_lr / lr."})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_settings(self)  # checkpoints, val_frac, select, generative_epochs
        if self.epochs <= 0:
            raise ValueError(f"epochs={self.epochs} must be > 0")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("batch_size and eval_batch_size must be >= 1")
        if self.grad_accum < 1 or self.batch_size % self.grad_accum:
            raise ValueError(f"grad_accum={self.grad_accum} must divide batch_size={self.batch_size}")
        self.report_to = tracker_names(self.report_to)
        if self.lr_schedule not in ("cosine", "linear", "constant"):
            raise ValueError(f"lr_schedule={self.lr_schedule!r} is not one of cosine, linear, constant")
        if not 0.0 <= self.warmup_frac < 1.0:
            raise ValueError(f"warmup_frac={self.warmup_frac} must be in [0, 1)")
        for name in ("lr", "weak_lr"):
            value = getattr(self, name)
            if value is not None and not 0 < value < 1:
                raise ValueError(f"{name}={value} must be in (0, 1), e.g. 1e-5")
        types = {k: v for k, v in typing.get_type_hints(TrainConfig).items() if k not in ("roles", "weak_lr")}
        self.roles = check_overrides(self.roles, types, _coerce,
                                     lambda over: dataclasses.replace(self, roles={}, **over))

    def for_role(self, role: str) -> TrainConfig:
        """The settings a stage of `role` trains with: its override (the exact role, else its family:
        student_noconflict -> student, intermediate2_fold0 -> intermediate) over the shared ones; `lr` the role's own
        (the override, else weak_lr for the weak role, lr for others; None = the catalogue default)."""
        over = self.roles.get(role) or self.roles.get(role_family(role)) or {}
        lr = over.get("lr", self.weak_lr if role_family(role) == "weak" else self.lr)
        return dataclasses.replace(self, **{k: v for k, v in over.items() if k != "lr"}, lr=lr, weak_lr=None, roles={})


@dataclass
class MethodConfig:
    """Base of every method's settings dataclass."""


@dataclass
class RunSpec:
    """One fully resolved run: what the runner executes and what the database stores as the run's config."""

    name: str
    task: str
    task_config: Any
    weak: str
    strong: str
    method: str
    method_config: MethodConfig
    seed: int
    train: TrainConfig
    n_train: int | None = None
    n_test: int | None = None
    balance: bool = True
    test_frac: float = 0.2
    pgr_min_gap: float = 0.0
    resources: Resources = field(default_factory=Resources)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key in ("task_config", "method_config", "train", "resources"):
            out[key] = dataclasses.asdict(out[key])
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    task: Any = "world_size"
    weak: str | list[str] = "world-xs"
    strong: str | list[str] = "world-l"
    methods: list[str] = field(default_factory=lambda: ["naive"])
    seeds: list[int] = field(default_factory=lambda: [0])
    train: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_train: int | None = None
    n_test: int | None = None
    balance: bool = True
    test_frac: float = 0.2
    pgr_min_gap: float = 0.0
    all_pairs: bool = field(default=False, metadata={
        "help": "With lists of weak and strong models, also run the pairs whose weak model is not smaller than the "
                "strong one (default: skipped; sizes are parameter counts)."})
    resources: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "What each run's worker asks a Ray cluster for: num_cpus, num_gpus, memory (e.g. 16GB)."})

    def __post_init__(self) -> None:
        for name in ("n_train", "n_test"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name}={value} must be at least 1 (or empty for every example)")
        if not 0 < self.test_frac < 1:
            raise ValueError(f"test_frac={self.test_frac} must be between 0 and 1, e.g. 0.2")
        if self.pgr_min_gap < 0:
            raise ValueError(f"pgr_min_gap={self.pgr_min_gap} must be >= 0")

    def expand(self) -> list[RunSpec]:
        """One RunSpec per (task, weak x strong pair, method, seed), every part validated."""
        tasks = [_task_parts(t) for t in (self.task if isinstance(self.task, list) else [self.task])]
        if not tasks:
            raise ConfigError("task is an empty list; name at least one task, e.g. world_size")
        try:
            pairs = model_pairs(self.weak, self.strong, self.all_pairs)
        except ModelListError as exc:
            raise ConfigError(str(exc)) from None
        resources = from_dict(Resources, self.resources, "resources")
        for key in self.settings:
            if key not in self.methods:
                raise ConfigError(f"settings has an entry for '{key}', which is not in methods {self.methods}")
        methods = []
        for method in self.methods:
            try:
                method_cls = METHODS.get(method)
            except KeyError as exc:
                raise ConfigError(f"methods: {exc}") from None
            methods.append((method, from_dict(method_cls.Config, self.settings.get(method, {}), f"settings.{method}")))
        specs = []
        for task_name, task_args in tasks:
            try:
                task_cls = TASKS.get(task_name)
            except KeyError as exc:
                raise ConfigError(f"task: {exc}") from None
            task_config = from_dict(task_cls.Config, task_args, f"task '{task_name}'")
            # A task whose prompts are long (few-shot reasoning) brings its own room, unless the config sets one.
            room = {"max_length": getattr(task_cls, "max_length", None) or ModelSettings.max_length}
            train = from_dict(TrainConfig, {**room, **(self.train or {})}, "train")
            for weak, strong in pairs:
                for method, method_config in methods:
                    for seed in self.seeds:
                        specs.append(RunSpec(
                            name=self.name, task=task_name, task_config=task_config, weak=weak, strong=strong,
                            method=method, method_config=method_config, seed=int(seed), train=train,
                            n_train=self.n_train, n_test=self.n_test, balance=self.balance, test_frac=self.test_frac,
                            pgr_min_gap=self.pgr_min_gap, resources=resources,
                        ))
        return specs


def _task_parts(task: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(task, str):
        return task, {}
    if isinstance(task, dict) and isinstance(task.get("name"), str):
        args = dict(task)
        return args.pop("name"), args
    raise ConfigError(f"task: expected a task name or a mapping with 'name', got {task!r}")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Coerce YAML scalars to a field's annotated type (YAML reads 2e-4 as a string)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:  # X | None: the message of X says it best
            raise errors[0]
        raise ConfigError(f"{where}: {value!r} is not a valid {tp}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(str, typing.get_args(tp)))}")
        return value
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        items = value if isinstance(value, list) else [value]
        return [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(items)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if not math.isfinite(number):  # YAML's .inf / .nan, JSON's Infinity / NaN
            raise ConfigError(f"{where}: {value!r} is not a finite number; give a plain number")
        if tp is int:
            whole = int(value) if isinstance(value, int) else (int(number) if number.is_integer() else None)
            if whole is None:
                raise ConfigError(f"{where}: expected a whole number, got {value!r}")
            if abs(whole) > MAX_INT:
                raise ConfigError(f"{where}: {value!r} is out of range; whole numbers must lie within +-{MAX_INT}")
            return whole
        return number
    if tp is str:
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return str(value)
    return value


def from_dict(cls: type, data: dict[str, Any] | None, where: str) -> Any:
    """Build dataclass `cls` from a mapping, rejecting unknown keys and wrong types with a clear message."""
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, got {data!r}")
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(f"{where}: unknown key '{key}'{did_you_mean(key, fields)} valid keys: "
                              f"{', '.join(sorted(fields)) or '(none)'}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def config_from_dict(data: dict[str, Any], max_runs: int = MAX_RUNS_PER_SWEEP) -> ExperimentConfig:
    """Validate an experiment config. The sweep size (methods x seeds) is checked against `max_runs` before
    anything is built, so a seed list of a million entries is refused at once instead of being expanded."""
    if not isinstance(data, dict):
        raise ConfigError(f"an experiment config must be a mapping, got {type(data).__name__}")
    data = dict(data)
    # Singular spellings are accepted for one-run configs.
    for single, plural in (("method", "methods"), ("seed", "seeds")):
        if single in data:
            if plural in data:
                raise ConfigError(f"give either '{single}' or '{plural}', not both")
            data[plural] = data.pop(single)
    sizes = [len(v) if isinstance(v, list) else 1 for v in (data.get("methods", [0]), data.get("seeds", [0]))]
    if sizes[0] * sizes[1] > max_runs:
        raise ConfigError(f"this sweep has {sizes[0]} method(s) x {sizes[1]} seed(s) = {sizes[0] * sizes[1]:,} runs; "
                          f"at most {max_runs:,} per submission. Fix: fewer seeds or methods")
    cfg = from_dict(ExperimentConfig, data, "config")
    if not cfg.methods:
        raise ConfigError("methods is empty; name at least one method, e.g. [naive]")
    if not cfg.seeds:
        raise ConfigError("seeds is empty; give at least one seed, e.g. [0]")
    for seed in cfg.seeds:
        if not 0 <= seed <= MAX_SEED:
            raise ConfigError(f"seeds: {seed} is out of range; use whole numbers from 0 to {MAX_SEED:,}")
    return cfg


def load_config(path: str | Path) -> ExperimentConfig:
    """An experiment config from a YAML/JSON file, or a shipped preset by name (`w2s run demo`)."""
    import yaml

    path = Path(path)
    if not path.exists() and preset_path(str(path)) is not None:
        path = preset_path(str(path))
    if not path.exists():
        known = ", ".join(p["name"] for p in presets())
        raise ConfigError(f"config file {path} does not exist (shipped presets: {known})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return config_from_dict(data or {})


def spec_from_dict(data: dict[str, Any]) -> Any:
    """Rebuild a RunSpec from RunSpec.to_dict() (the config stored with a run), validating every part."""
    data = dict(data)
    try:
        task_cls, method_cls = TASKS.get(data["task"]), METHODS.get(data["method"])
    except KeyError as exc:
        raise ConfigError(f"stored run config: {exc}") from None
    data["task_config"] = from_dict(task_cls.Config, data.get("task_config"), f"task '{data['task']}'")
    data["method_config"] = from_dict(method_cls.Config, data.get("method_config"), f"settings.{data['method']}")
    data["train"] = from_dict(TrainConfig, data.get("train"), "train")
    data["resources"] = from_dict(Resources, data.get("resources"), "resources")
    names = {f.name for f in dataclasses.fields(RunSpec)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"stored run config has unknown keys {unknown}; it was written by another version")
    return RunSpec(**data)
