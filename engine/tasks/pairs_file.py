"""The user's own preference pairs: a CSV, JSONL or Parquet file with a prompt, a chosen and a rejected column.

    task: {name: pairs_file, path: pairs.jsonl}              # columns prompt, chosen, rejected
    task: {name: pairs_file, path: pairs.csv, prompt_column: question, chosen_column: good, rejected_column: bad}

The chosen response is the better one (ground truth). A response that does not start with whitespace gets a
leading space, so the prompt/response cut falls on a token boundary as trl's trainers expect. Rows missing a
field, or with identical responses, are skipped. Without `test_path`, split_examples carves the test set out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.registry import TASKS
from engine.tasks._files import drop_incomplete, plain, read_table, require_columns
from engine.tasks.base import Example, Task, TaskConfig, TaskError, make_pair


@TASKS.register("pairs_file")
class PairsFile(Task):
    """Your own preference pairs: a CSV, JSONL or Parquet file with prompt, chosen (better) and rejected columns."""

    kind = "preference"
    version = "1"
    label_names = ("rejected", "chosen")
    loads_locally = True

    @dataclass
    class Config(TaskConfig):
        """Where the file is and which columns hold prompt and the two responses."""

        path: str = field(default="", metadata={"help": "CSV, JSONL or Parquet file (format from the extension)."})
        prompt_column: str = field(default="prompt", metadata={"help": "Column with the prompt."})
        chosen_column: str = field(default="chosen", metadata={"help": "Column with the better response."})
        rejected_column: str = field(default="rejected", metadata={"help": "Column with the worse response."})
        test_path: str | None = field(
            default=None, metadata={"help": "Optional test file with the same columns; empty = carve it from path."})

    def load(self, limit: int | None = None) -> dict[str, list[Example]]:
        cfg = self.config
        if not str(cfg.path).strip():
            raise TaskError("task 'pairs_file' has no path. Fix: set path to a CSV, JSONL or Parquet file")
        paths = {"train": cfg.path} | ({"test": cfg.test_path} if cfg.test_path else {})
        return {pool: self._read(path, limit) for pool, path in paths.items()}

    def _read(self, path: str, limit: int | None) -> list[Example]:
        cfg = self.config
        df = read_table(path)
        require_columns(df, path, [(cfg.prompt_column, "prompt_column"), (cfg.chosen_column, "chosen_column"),
                                   (cfg.rejected_column, "rejected_column")])
        df = drop_incomplete(df, [cfg.prompt_column, cfg.chosen_column, cfg.rejected_column], path, self.notes)
        if limit is not None and len(df) > limit:
            df = df.sample(n=limit, random_state=0).sort_index()
        out = []
        for index, prompt, chosen, rejected in zip(df.index, df[cfg.prompt_column].astype(str),
                                                   df[cfg.chosen_column].astype(str),
                                                   df[cfg.rejected_column].astype(str)):
            if chosen.strip() == rejected.strip() or not chosen.strip() or not rejected.strip():
                continue
            out.append(make_pair(prompt, _spaced(chosen), _spaced(rejected), row=plain(index)))
        if not out:
            raise TaskError(f"file {path} has no row with a prompt and two different responses. Fix: check its "
                            "columns and contents")
        return out


def _spaced(text: str) -> str:
    return text if text[:1].isspace() else " " + text
