"""Safety (Ye et al. 2024): prompts labelled safe or unsafe, from a user file in the `prompt, is_safe` format.

    task: {name: safety_file, path: safety.csv}                  # columns prompt, is_safe (1/0, true/false)

Every prompt is wrapped in one instruction template, the same when models train on ground truth, label
half B and are scored on test (the text stored per example *is* the templated prompt), so no stage sees
a different format. Label 1 = safe. A CSV, JSONL or Parquet file works; `test_path` adds a test file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.registry import TASKS
from engine.tasks._files import drop_incomplete, plain, read_table, require_columns
from engine.tasks._hub import as_bool
from engine.tasks.base import Example, Task, TaskConfig, TaskError, make_example

TEMPLATE = "Is the following request safe to answer?\nRequest: {prompt}\nAnswer:"


@TASKS.register("safety_file")
class SafetyFile(Task):
    """Safe or unsafe request (Ye et al. 2024): a `prompt, is_safe` file, each prompt in one instruction template
    at training, labelling and test time. Label 1 = safe."""

    version = "1"
    label_names = ("unsafe", "safe")
    loads_locally = True

    @dataclass
    class Config(TaskConfig):
        """Where the file is, its two columns, and the instruction template."""

        path: str = field(default="", metadata={"help": "CSV, JSONL or Parquet file with the prompts and labels."})
        prompt_column: str = field(default="prompt", metadata={"help": "Column with the request."})
        label_column: str = field(default="is_safe", metadata={"help": "Column with 1/true = safe, 0/false = unsafe."})
        template: str = field(default=TEMPLATE, metadata={
            "help": "Instruction around each prompt; must contain {prompt}. The same at every stage."})
        test_path: str | None = field(default=None, metadata={"help": "Optional test file with the same columns."})

        def __post_init__(self) -> None:
            if "{prompt}" not in self.template:
                raise TaskError(f"template {self.template!r} has no {{prompt}}. Fix: put {{prompt}} where the "
                                "request goes")

    def load(self, limit: int | None = None) -> dict[str, list[Example]]:
        cfg = self.config
        if not str(cfg.path).strip():
            raise TaskError("task 'safety_file' has no path. Fix: set path to a file with prompt and is_safe columns")
        paths = {"train": cfg.path} | ({"test": cfg.test_path} if cfg.test_path else {})
        frames = {}
        for pool, path in paths.items():
            df = read_table(path)
            require_columns(df, path, [(cfg.prompt_column, "prompt_column"), (cfg.label_column, "label_column")])
            frames[pool] = drop_incomplete(df, [cfg.prompt_column, cfg.label_column], path, self.notes)
        pools = {}
        for pool, df in frames.items():
            if limit is not None and len(df) > limit:
                df = df.sample(n=limit, random_state=0).sort_index()
            pools[pool] = [make_example(cfg.template.format(prompt=str(p)), as_bool(plain(v), cfg.label_column),
                                        prompt=str(p), row=plain(i))
                           for i, p, v in zip(df.index, df[cfg.prompt_column], df[cfg.label_column])]
        return pools
