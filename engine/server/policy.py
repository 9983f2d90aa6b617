"""What the engine allows, and how much: local mode (one trusted user, the default) or public mode (a Space anyone
on the internet can open), every limit an owner setting with its environment variable.

    policy = Policy.load(public=None)         # public with --public, W2S_PUBLIC=1 or SPACE_ID set
    policy.check_sweep(config)                # before a config is expanded: seeds per sweep
    policy.check_spec(spec, owns_upload)      # models, remote code, server paths, examples, epochs
    policy.worker_env(dict(os.environ))       # the environment a worker process gets

Every refusal is a PolicyError whose message names the limit, the setting that moves it and the fix.

| setting | variable | local | public | what it bounds |
|---|---|---|---|---|
| public | W2S_PUBLIC (or SPACE_ID) | off | on | uploads and catalogue models only, separate visitors, the caps below |
| owner_password | W2S_OWNER_PASSWORD | - | - | the owner login of the studio (a Space secret); unset = no owner login |
| allow_models | W2S_ALLOW_MODELS | - | - | hub ids visitors may use besides the catalogue (comma-separated) |
| allow_models_file | W2S_ALLOW_MODELS_FILE | - | - | the same, one id per line in a file |
| worker_hf_token | W2S_WORKER_HF_TOKEN | 1 | 0 | whether workers see HF_TOKEN (gated models) |
| max_queued | W2S_MAX_QUEUED | - | 8 | queued + running runs per visitor |
| max_queue | W2S_MAX_QUEUE | - | 40 | queued + running runs in all |
| max_seeds | W2S_MAX_SEEDS | - | 5 | seeds in one sweep |
| max_examples | W2S_MAX_EXAMPLES | - | 5000 | training examples (A + B) and test examples of one run |
| max_epochs | W2S_MAX_EPOCHS | - | 20 | any `*epochs` setting |
| max_upload_mb | W2S_MAX_UPLOAD_MB | 1024 | 10 | one uploaded file |
| max_uploads | W2S_MAX_UPLOADS | - | 20 | live uploads per visitor |
| max_body_mb | W2S_MAX_BODY_MB | 1100 | 12 | one request body (workers' event posts are exempt) |
| upload_hours | W2S_UPLOAD_HOURS | 0 | 24 | hours an upload is kept (0 = for ever) |
| export_hours | W2S_EXPORT_HOURS | 24 | 1 | hours the studio keeps the CSV / YAML files it offers for download |
| max_run_minutes | W2S_MAX_RUN_MINUTES | 0 | 30 | wall-clock minutes of one run before it is stopped (0 = no limit) |
| requeue_interrupted | W2S_REQUEUE_INTERRUPTED | 0 | 1 | queue again, on start, the runs a stopped engine interrupted |

"-" means no limit. The studio is only a client: it shows these limits, the engine enforces them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import paths

PATH_FIELDS = ("path", "test_path")  # task settings that may name an upload in public mode
SERVER_PATH_FIELDS = ("data_files", "world")  # task settings that name a server path: only their default
SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_TOKEN")
WORKER_ENV_KEEP = ("PATH", "HOME", "USER", "LANG", "LC_", "TZ", "TMPDIR", "PYTHON", "VIRTUAL_ENV", "HF_HOME",
                   "HF_HUB_", "HF_DATASETS_", "TRANSFORMERS_", "TOKENIZERS_", "CUDA", "NVIDIA", "OMP_", "MKL_",
                   "TORCH", "PYTORCH_", "SPACE_ID", "W2S_HOME", "W2S_ZOO_DIR", "W2S_ARITH_DIR", "W2S_THREADS", "LD_")


class PolicyError(ValueError):
    """A request this server does not allow; the message names the limit, its setting and the fix."""


def _opt(env: str, local: Any, public: Any, help: str, kind: type = int) -> Any:
    return field(default=local, metadata={"env": env, "public": public, "help": help, "kind": kind})


@dataclass(frozen=True)
class Policy:
    public: bool = False
    owner_password: str | None = _opt("W2S_OWNER_PASSWORD", None, None, "owner login of the studio", str)
    allow_models: tuple[str, ...] = _opt("W2S_ALLOW_MODELS", (), (), "extra hub ids visitors may use", tuple)
    allow_models_file: str | None = _opt("W2S_ALLOW_MODELS_FILE", None, None, "file of extra hub ids", str)
    worker_hf_token: bool = _opt("W2S_WORKER_HF_TOKEN", True, False, "workers see HF_TOKEN", bool)
    max_queued: int | None = _opt("W2S_MAX_QUEUED", None, 8, "queued + running runs per visitor")
    max_queue: int | None = _opt("W2S_MAX_QUEUE", None, 40, "queued + running runs in all")
    max_seeds: int | None = _opt("W2S_MAX_SEEDS", None, 5, "seeds in one sweep")
    max_examples: int | None = _opt("W2S_MAX_EXAMPLES", None, 5000, "training and test examples of one run")
    max_epochs: float | None = _opt("W2S_MAX_EPOCHS", None, 20, "any *epochs setting", float)
    max_upload_mb: float = _opt("W2S_MAX_UPLOAD_MB", 1024, 10, "one uploaded file", float)
    max_uploads: int | None = _opt("W2S_MAX_UPLOADS", None, 20, "live uploads per visitor")
    max_body_mb: float = _opt("W2S_MAX_BODY_MB", 1100, 12, "one request body", float)
    upload_hours: float = _opt("W2S_UPLOAD_HOURS", 0, 24, "hours an upload is kept (0 = for ever)", float)
    export_hours: float = _opt("W2S_EXPORT_HOURS", 24, 1, "hours the studio keeps its download files", float)
    max_run_minutes: float = _opt("W2S_MAX_RUN_MINUTES", 0, 30, "minutes of one run (0 = no limit)", float)
    requeue_interrupted: bool = _opt("W2S_REQUEUE_INTERRUPTED", False, True, "requeue interrupted runs on start",
                                     bool)

    # ------------------------------------------------------------------ building
    @classmethod
    def load(cls, public: bool | None = None) -> Policy:
        """The policy from the environment: public when asked, or with W2S_PUBLIC=1, or on a Space."""
        if public is None:
            flag = paths.setting("W2S_PUBLIC")
            public = _bool(flag, "W2S_PUBLIC") if flag is not None else paths.on_space()
        values: dict[str, Any] = {"public": public}
        for f in dataclasses.fields(cls):
            if f.name == "public":
                continue
            raw = paths.setting(f.metadata["env"])
            values[f.name] = f.metadata["public"] if public else f.default
            if raw is not None:
                values[f.name] = _parse(raw, f.metadata["kind"], f.metadata["env"])
        return cls(**values)

    def settings(self) -> list[dict[str, Any]]:
        """Every setting with its variable and value (the owner password only as set / unset)."""
        out = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "owner_password":
                value = value is not None
            out.append({"name": f.name, "env": f.metadata.get("env", "W2S_PUBLIC"), "value": value,
                        "help": f.metadata.get("help", "public mode")})
        return out

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 2**20)

    def allowed_models(self) -> set[str]:
        """Hub ids the owner allows besides the catalogue."""
        names = set(self.allow_models)
        if self.allow_models_file:
            try:
                lines = Path(self.allow_models_file).expanduser().read_text().splitlines()
            except OSError as exc:
                raise PolicyError(f"W2S_ALLOW_MODELS_FILE {self.allow_models_file} cannot be read: {exc.strerror}")
            names |= {ln.split("#", 1)[0].strip() for ln in lines} - {""}
        return names

    # ------------------------------------------------------------------ checks
    def check_sweep(self, config: Any) -> None:
        """Before expansion: the number of seeds of one submission."""
        if not self.max_seeds or not isinstance(config, dict):
            return
        seeds = config.get("seeds", config.get("seed", [0]))
        n = len(seeds) if isinstance(seeds, list) else 1
        if n > self.max_seeds:
            raise PolicyError(f"seeds: {n} seeds in one sweep; this server allows at most {self.max_seeds} "
                              f"(owner setting W2S_MAX_SEEDS). Fix: fewer seeds")

    def check_spec(self, spec: Any, owns_upload: Any = lambda ref: True) -> None:
        """One run's settings: in public mode no remote code, no server path, catalogue / allowed models only;
        any mode: the examples and epochs caps. `owns_upload(ref)` says whether the caller may read that upload."""
        from engine.plan import method_models

        if self.public:
            for where, train in [("train", spec.train)] + [(f"train.roles.{r}", spec.train.for_role(r))
                                                           for r in spec.train.roles or {}]:
                if train.trust_remote_code:  # a role's override too: any stage could load the model's code
                    raise PolicyError(f"{where}.trust_remote_code: remote code is off on this server (it would run "
                                      "code from the model's repository). Fix: set trust_remote_code to false")
                for name, what in (("keep_weights", "keeping trained weights"), ("report_to", "writing tracker logs")):
                    if getattr(train, name, None):
                        raise PolicyError(f"{where}.{name}: {what} is off on this server (it fills the server's "
                                          f"disk). Fix: leave {name} at its default")
            for model in dict.fromkeys([spec.weak, spec.strong, *method_models(spec.method_config)]):
                self.check_model(model)
            self._check_scorers(spec.method_config)
            self._check_task_paths(spec, owns_upload)
        if self.max_examples:
            from engine.registry import TASKS

            for name in ("n_train", "n_test"):
                value = getattr(spec, name)
                if value is not None and value > self.max_examples:
                    raise PolicyError(f"{name}={value:,} is over this server's limit of {self.max_examples:,} "
                                      f"examples per run (owner setting W2S_MAX_EXAMPLES). Fix: set {name} to "
                                      f"{self.max_examples} or less")
                hub = getattr(TASKS.get(spec.task), "hub_id", "") or getattr(spec.task_config, "dataset", "")
                if value is None and hub:  # hub datasets can be huge
                    raise PolicyError(f"task '{spec.task}' loads from the hub; on this server set {name} (at most "
                                      f"{self.max_examples:,}, owner setting W2S_MAX_EXAMPLES)")
        if self.max_epochs:
            for where, cfg in (("train", spec.train), (f"settings.{spec.method}", spec.method_config)):
                for f in dataclasses.fields(cfg):
                    value = getattr(cfg, f.name)
                    if f.name.endswith("epochs") and isinstance(value, int | float) and value > self.max_epochs:
                        raise PolicyError(f"{where}.{f.name}={value:g} is over this server's limit of "
                                          f"{self.max_epochs:g} epochs (owner setting W2S_MAX_EPOCHS). Fix: fewer "
                                          "epochs")

    def check_splits(self, spec: Any, splits: Any) -> None:
        """After a local task was loaded: the sizes it would train and test on."""
        if not self.max_examples:
            return
        for what, n, setting in (("training", len(splits.a) + len(splits.b), "n_train"),
                                 ("test", len(splits.test), "n_test")):
            if n > self.max_examples:
                raise PolicyError(f"task '{spec.task}' gives {n:,} {what} examples; this server allows at most "
                                  f"{self.max_examples:,} per run (owner setting W2S_MAX_EXAMPLES). Fix: set "
                                  f"{setting} to {self.max_examples} or less")

    def check_model(self, model: str) -> None:
        from engine.registry import MODELS

        if model in MODELS or model in self.allowed_models():
            return
        offered = ", ".join(MODELS.names())
        what = "a folder on the server" if model.startswith(("/", ".", "~")) or "\\" in model else "not offered"
        raise PolicyError(f"model '{model}' is {what} on this server; pick a catalogue model ({offered}) or ask the "
                          "owner to allow it (owner setting W2S_ALLOW_MODELS)")

    def _check_scorers(self, cfg: Any) -> None:
        for f in dataclasses.fields(cfg):  # classifier:<model> / reward_model:<model> name a model to load
            value = getattr(cfg, f.name)
            if f.name.endswith("scorer") and isinstance(value, str) and ":" in value:
                kind, arg = value.split(":", 1)
                if kind in ("classifier", "reward_model"):
                    self.check_model(arg)

    def _check_task_paths(self, spec: Any, owns_upload: Any) -> None:
        from engine.registry import TASKS
        from engine.tasks._files import is_upload

        defaults = TASKS.get(spec.task).Config()
        for f in dataclasses.fields(spec.task_config):
            value = getattr(spec.task_config, f.name)
            if f.name in SERVER_PATH_FIELDS and value != getattr(defaults, f.name):
                raise PolicyError(f"task '{spec.task}' {f.name}: this server does not read its own files; leave "
                                  f"{f.name} at its default")
            if f.name in PATH_FIELDS and value:
                if not is_upload(value):
                    raise PolicyError(f"task '{spec.task}' {f.name}: '{value}' is a server path; this server reads "
                                      "only files you uploaded. Fix: upload the file (Experiment tab) and use the "
                                      "reference it gets (upload:...)")
                if not owns_upload(value):
                    raise PolicyError(f"task '{spec.task}' {f.name}: {value} is not one of your uploads (uploads "
                                      "expire). Fix: upload the file again")

    # ------------------------------------------------------------------ workers
    def worker_env(self, env: dict[str, str]) -> dict[str, str]:
        """Local mode: the engine's environment (minus HF_TOKEN if the owner said so). Public mode: only what a
        worker needs (paths, locale, Python, HF cache and offline flags, CUDA, threads); no secrets, and
        HF_TOKEN only when the owner allows it."""
        if self.public:
            env = {k: v for k, v in env.items() if k.startswith(WORKER_ENV_KEEP) or k in SECRET_ENV}
        if not self.worker_hf_token:
            env = {k: v for k, v in env.items() if k not in SECRET_ENV}
        return env


def _bool(raw: str, env: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise PolicyError(f"{env}={raw!r} is not on or off; use 1 or 0")


def _parse(raw: str, kind: type, env: str) -> Any:
    if kind is bool:
        return _bool(raw, env)
    if kind is str:
        return raw
    if kind is tuple:
        return tuple(x.strip() for x in raw.split(",") if x.strip())
    try:
        value = float(raw)
    except ValueError:
        raise PolicyError(f"{env}={raw!r} is not a number") from None
    if not (value >= 0 and value != float("inf")):
        raise PolicyError(f"{env}={raw!r} must be a finite number >= 0")
    if kind is int:
        return None if value == 0 else int(value)  # 0 = no limit
    return value
