"""What every trainer shares: the arguments builder, the run-context callback, quiet set-up and out-of-memory errors.

    args = training_args(TrainingArguments, train_cfg, lr, epochs, seed, out_dir, n_rows, label_names=["labels"])
    trainer = train_with_progress(lambda: Trainer(...), ctx, "student", key, phase="train", prefix="train",
                                  what="training", model_name="world-l", batch_size=32)

transformers' Trainer and every trl trainer get the same optimiser settings from `training_args` (and the
CPU-safe defaults trl lacks: its configs default to bf16 autocast and activation checkpointing, ~10x slower on a
CPU), and the same `ContextCallback`, which streams progress with ETA and curves to the run context and stops on
cancellation. `evaluation_callback` is the hook that evaluates a model at evenly spaced steps (training dynamics,
engine.ml.classifier). torch and transformers are imported inside functions.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from typing import Any

# Curve names: the main phase's loss is "train_loss" (the studio's default curve); SFT before it is "sft_*".
CURVE_KEYS = ("loss", "learning_rate", "grad_norm", "rewards/margins", "rewards/accuracies", "rewards/chosen",
              "rewards/rejected", "accuracy", "margin", "mean_token_accuracy")


class ResourceError(RuntimeError):
    """Out of memory (or a similar resource limit); the message says what to lower."""


def is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, MemoryError | torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def oom_message(what: str, model: str, batch_size: int) -> str:
    return (f"out of memory while {what} {model} (batch size {batch_size}). Fix: lower train.batch_size or "
            "train.eval_batch_size, raise train.grad_accum, set train.lora: true, or pick a smaller model")


def training_args(config_cls: type, cfg: Any, lr: float, epochs: float, seed: int, out_dir: str, n_rows: int,
                  **extra: Any) -> Any:
    """`config_cls` (TrainingArguments or a trl config) with the run's optimiser settings: micro-batches of
    batch_size / grad_accum, schedule, warm-up, weight decay, ~50 log points, no checkpoints, the trackers of
    `report_to` (engine.ml.trackers names their runs)."""
    import torch

    from engine.ml.loading import mixed_precision

    steps = max(1, math.ceil(n_rows / cfg.batch_size) * epochs)
    return config_cls(
        output_dir=out_dir, per_device_train_batch_size=cfg.batch_size // cfg.grad_accum,
        gradient_accumulation_steps=cfg.grad_accum, num_train_epochs=epochs, learning_rate=lr,
        lr_scheduler_type=cfg.lr_schedule, warmup_steps=cfg.warmup_frac, weight_decay=cfg.weight_decay,
        logging_steps=max(1, int(steps) // 50), save_strategy="no",
        report_to=list(getattr(cfg, "report_to", None) or []) or "none", disable_tqdm=True, seed=seed,
        data_seed=seed, use_cpu=not torch.cuda.is_available(), dataloader_pin_memory=False,
        **mixed_precision(cfg), **extra)


def context_callback(ctx: Any, stage: str, stage_key: str, phase: str, prefix: str) -> Any:
    """A TrainerCallback that reports progress of `stage: phase` and the curves `<prefix>_<log key>` to `ctx`."""
    from transformers import TrainerCallback

    class ContextCallback(TrainerCallback):
        """Streams progress (with ETA) and curves to the run context; stops on cancellation."""

        def on_step_end(self, args, state, control, **kwargs):
            ctx.progress(f"{stage}: {phase}", state.global_step, state.max_steps)
            ctx.check_cancelled()

        def on_log(self, args, state, control, logs=None, **kwargs):
            rows = [{"stage_key": stage_key, "name": f"{prefix}_{k.replace('/', '_')}", "step": state.global_step,
                     "value": float(v)} for k, v in (logs or {}).items() if k in CURVE_KEYS]
            if rows:
                ctx.metrics(rows)

    return ContextCallback()


def evaluation_callback(points: int, evaluate: Any) -> Any:
    """A TrainerCallback that calls `evaluate(model, step, epoch, last)` at `points` optimizer steps evenly spaced
    over the run (engine.dynamics.checkpoint_steps), the last after the final step: the training-dynamics hook.
    Evaluating between steps changes nothing the training sees (no gradients, no random draws; Trainer puts the
    model back in train mode at the next step)."""
    from transformers import TrainerCallback

    from engine.dynamics import checkpoint_steps

    class EvaluationCallback(TrainerCallback):
        steps: list[int] = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.steps = checkpoint_steps(state.max_steps, points)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step in self.steps:
                evaluate(model, state.global_step, float(state.epoch or 0.0), state.global_step == self.steps[-1])

    return EvaluationCallback()


@contextlib.contextmanager
def quiet():
    """No progress bars from datasets' map and trl's reference pass: progress goes through the run context."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    saved = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = saved
        if was_enabled:
            datasets.enable_progress_bars()


def freeze_import_heap() -> None:
    """Move every object alive now (the ~400k of torch, transformers and trl's modules) out of the cyclic garbage
    collector's reach, once per process. Trainer calls `gc.collect()` at the start of every `train()` (accelerate's
    `release_memory`), and Python runs full collections on its own as training allocates: each one walked the
    whole import heap, ~0.5 s on this CPU. Frozen objects are still freed by reference counting; only cycles
    among them (module-level import leftovers) are kept. The heap is unfrozen at exit; a command-line process ends
    with `exit_process`, which skips the interpreter's last collection of it."""
    import atexit
    import gc

    global _HEAP_FROZEN
    if not _HEAP_FROZEN:  # a flag, not gc.get_freeze_count(): that walks every frozen object (~0.1 s per call)
        gc.freeze()
        _HEAP_FROZEN = True
        # A script or notebook that trained through the library ends through the interpreter's own shutdown: its
        # last collection must see the heap again, or DuckDB's bindings print hundreds of "leaked" lines.
        # (exit_process runs this too, at no cost: os._exit then skips the collection.)
        atexit.register(gc.unfreeze)


_HEAP_FROZEN = False  # set by freeze_import_heap (also in the zygote, so its forked workers inherit it)


def exit_process(code: int | str | None) -> None:
    """End a command-line process with `code`. After `freeze_import_heap`, the interpreter's own shutdown collects
    the unfrozen import heap once more (~1.2 CPU s; frozen, DuckDB's bindings would report it as "leaked"): so the
    exit handlers run, the streams are flushed and the process ends without tearing its modules down, as a forked
    worker does."""
    import atexit
    import gc
    import sys

    if not gc.get_freeze_count():
        sys.exit(code)
    if isinstance(code, str):  # sys.exit("message") prints it and exits 1
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code or 0)


def settle_package_probes() -> None:
    """accelerate's optimizer asks importlib whether `lomo_optim` is installed at every step, twice (a file-system
    search of sys.path each time: ~0.4 ms, 15% of a small model's step). What is installed cannot change within a
    run, so the answer is read once and kept."""
    import accelerate.optimizer

    probe = accelerate.optimizer.is_lomo_available
    if not getattr(probe, "settled", False):
        answer = probe()

        def settled() -> Any:
            return answer

        settled.settled = True
        accelerate.optimizer.is_lomo_available = settled


def train_with_progress(trainer_factory: Any, ctx: Any, stage: str, stage_key: str, phase: str, prefix: str,
                        what: str, model_name: str, batch_size: int, callbacks: tuple[Any, ...] = ()) -> Any:
    """Build the trainer quietly, train with progress and curves (and any further `callbacks`, e.g. the
    evaluation hook), and turn out-of-memory into a clear error."""
    from transformers import PrinterCallback

    from engine.ml.trackers import tracking

    freeze_import_heap()
    settle_package_probes()
    try:
        with quiet(), warnings.catch_warnings():
            # transformers 5 deprecates names trl still calls (is_gradient_checkpointing, ...): noise in every log.
            warnings.filterwarnings("ignore", category=FutureWarning, message=".*checkpointing.*")
            trainer = trainer_factory()
        trainer.remove_callback(PrinterCallback)  # progress and curves go through the run context instead
        trainer.add_callback(context_callback(ctx, stage, stage_key, phase, prefix))
        for callback in callbacks:
            trainer.add_callback(callback)
        with warnings.catch_warnings(), tracking(trainer, ctx, stage, stage_key, phase):
            warnings.filterwarnings("ignore", category=FutureWarning, message=".*checkpointing.*")
            trainer.train_output = trainer.train()  # its metrics: train_runtime, train_samples_per_second
    except Exception as exc:
        if is_oom(exc):
            raise ResourceError(oom_message(what, model_name, batch_size)) from None
        raise
    trainer.optimized_dtypes = optimized_dtypes(trainer)
    total = sum(trainer.optimized_dtypes.values())
    ctx.metrics([{"stage_key": stage_key, "name": f"{prefix}_trainable_fp32",
                  "value": trainer.optimized_dtypes.get("torch.float32", 0) / total if total else 0.0},
                 {"stage_key": stage_key, "name": f"{prefix}_samples_per_second",
                  "value": float(trainer.train_output.metrics.get("train_samples_per_second", 0.0))}])
    return trainer


def optimized_dtypes(trainer: Any) -> dict[str, int]:
    """How many weights the trainer's optimizer updated, per dtype: what precision training really ran in (a stage
    fact, `<prefix>_trainable_fp32` = the fp32 share, which should be 1.0)."""
    counts: dict[str, int] = {}
    for group in getattr(trainer.optimizer, "param_groups", []):
        for param in group["params"]:
            counts[str(param.dtype)] = counts.get(str(param.dtype), 0) + param.numel()
    return counts
