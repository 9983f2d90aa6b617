"""Every place on disk the engine uses, and every W2S_* variable that moves one: defined here and nowhere else.

    from engine import paths
    paths.data_home()            # $W2S_HOME, default ~/.w2s: database, engine.json, logs, uploads
    paths.default_db()           # <data home>/runs.duckdb
    paths.assets_dir()           # shipped presets and zoo weights (source checkout or installed wheel)

Standard library only: the client, the CLI and the studio's engine handshake import this without the ML stack.

| variable | what it sets | default |
|---|---|---|
| W2S_HOME | data directory (database, engine.json, logs, uploads, stage weights) | ~/.w2s |
| W2S_ZOO_DIR | offline world zoo weights | <assets>/zoo |
| W2S_ARITH_DIR | arithmetic zoo weights | <assets>/zoo/arith |
| W2S_THREADS | torch intra-op threads per worker | 1 |
| W2S_ENGINE_URL, W2S_ENGINE_TOKEN | where a worker posts its events, and its run's token (set by the scheduler) | engine.json |
| W2S_ENGINE_RETRY | seconds a worker keeps retrying an engine it cannot reach (Ray workers outlive a restart) | 15 |
| W2S_NODE | the machine a worker runs on, named in its messages (set by the Ray backend) | this host |
| W2S_VLLM_PYTHON | the Python of a separate venv with vLLM (the generation backend) | this one, if it has vllm |
| W2S_VLLM_MEMORY | share of GPU memory vLLM may take while it generates | 0.5 |
| W2S_PUBLIC | public mode (also on when SPACE_ID is set); its rules and caps: engine/server/policy.py | off |
| W2S_OWNER_PASSWORD, W2S_ALLOW_MODELS, W2S_MAX_* ... | public-mode owner settings, read through `setting()` | policy.py |

Also here: kept weights (<data home>/weights), the trackers' default folders (<data home>/trackers, used when
TENSORBOARD_LOGGING_DIR, MLFLOW_TRACKING_URI or WANDB_DIR is unset), the engine's persistent signing secret
(<data home>/secret) and, on a Space, HF_HOME on the same persistent storage as the data home.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent          # engine/
SOURCE_ROOT = PACKAGE.parent                        # the checkout (or site-packages when installed)
ENGINE_URL_VAR, ENGINE_TOKEN_VAR = "W2S_ENGINE_URL", "W2S_ENGINE_TOKEN"
ENGINE_RETRY_VAR, NODE_VAR = "W2S_ENGINE_RETRY", "W2S_NODE"


def data_home() -> Path:
    """Where the database, engine.json, logs and uploads live: $W2S_HOME, default ~/.w2s."""
    return Path(os.environ.get("W2S_HOME") or Path.home() / ".w2s").expanduser()


def default_db(home: Path | None = None) -> Path:
    return (home or data_home()) / "runs.duckdb"


def engine_file(home: Path | None = None) -> Path:
    """The running engine's address, token and pid (mode 0600)."""
    return (home or data_home()) / "engine.json"


def logs_dir(home: Path | None = None) -> Path:
    return (home or data_home()) / "logs"


def run_log(run_id: str, home: Path | None = None) -> Path:
    return logs_dir(home) / f"{run_id}.log"


def engine_retry() -> float:
    """Seconds a worker retries an engine it cannot reach before giving up: $W2S_ENGINE_RETRY, default 15."""
    return float(os.environ.get(ENGINE_RETRY_VAR, "15"))


def node_name() -> str:
    """The machine this process runs on, as messages name it: $W2S_NODE, else the host name."""
    import socket

    return os.environ.get(NODE_VAR) or socket.gethostname()


def uploads_dir(home: Path | None = None) -> Path:
    """Uploaded data files, readable by the engine's workers."""
    return (home or data_home()) / "uploads"


def stage_models_dir(home: Path | None = None) -> Path:
    """Weights a stage produces for later stages (the generatively finetuned strong model), one folder per stage key."""
    return (home or data_home()) / "models"


def weights_dir(home: Path | None = None) -> Path:
    """Kept weights (train.keep_weights): one Hugging Face folder per stage key, removed by `w2s gc`."""
    return (home or data_home()) / "weights"


def trackers_dir(home: Path | None = None) -> Path:
    """Where trackers write when their own variable is unset: tensorboard/ (TENSORBOARD_LOGGING_DIR), mlruns/
    (MLFLOW_TRACKING_URI) and wandb/ (WANDB_DIR)."""
    return (home or data_home()) / "trackers"


def assets_dir() -> Path:
    """Presets and zoo weights: assets/ beside the package in a checkout, engine/_assets in an installed wheel."""
    for candidate in (SOURCE_ROOT / "assets", PACKAGE / "_assets"):
        if candidate.is_dir():
            return candidate
    return SOURCE_ROOT / "assets"


def configs_dir() -> Path:
    """The shipped experiment presets (YAML)."""
    return assets_dir() / "configs"


def _env_dir(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def zoo_dir() -> Path:
    """The offline world zoo: $W2S_ZOO_DIR if set, else assets/zoo."""
    return _env_dir("W2S_ZOO_DIR", assets_dir() / "zoo")


def arith_dir() -> Path:
    """The arithmetic zoo: $W2S_ARITH_DIR if set, else assets/zoo/arith."""
    return _env_dir("W2S_ARITH_DIR", assets_dir() / "zoo" / "arith")


def setting(name: str) -> str | None:
    """A W2S_* setting from the environment (empty counts as unset); engine.server.policy lists them all."""
    if not name.startswith("W2S_"):
        raise ValueError(f"{name} is not a W2S_* setting")
    value = os.environ.get(name, "").strip()
    return value or None


def on_space() -> bool:
    """Running as a Hugging Face Space (the platform sets SPACE_ID)."""
    return bool(os.environ.get("SPACE_ID"))


def secret_file(home: Path | None = None) -> Path:
    """The engine's signing secret for visitor identities (mode 0600, made on first start, kept across restarts)."""
    return (home or data_home()) / "secret"


def hf_home_default(home: Path | None = None) -> Path:
    """Where a Space keeps the Hugging Face cache when HF_HOME is unset: beside the data, on persistent storage."""
    return (home or data_home()) / "hf"


def threads() -> int:
    """torch intra-op threads per worker: $W2S_THREADS, default 1 (two threads oversubscribe small CPU boxes)."""
    return int(os.environ.get("W2S_THREADS", "1"))


def vllm_python() -> str | None:
    """The interpreter that runs vLLM generation: $W2S_VLLM_PYTHON (a venv of its own: no vLLM release installs
    beside this project's pins), else None (then vLLM is used only if this interpreter can import it)."""
    value = os.environ.get("W2S_VLLM_PYTHON")
    return str(Path(value).expanduser()) if value else None


def vllm_memory() -> float:
    """The share of GPU memory vLLM may reserve (gpu_memory_utilization): $W2S_VLLM_MEMORY, default 0.5, leaving
    room for the policy being trained, which stays loaded."""
    return float(os.environ.get("W2S_VLLM_MEMORY", "0.5"))
