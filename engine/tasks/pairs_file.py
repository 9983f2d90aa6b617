"""The user's own preference pairs: a CSV, JSONL or Parquet file with a prompt, a chosen and a rejected column.

    task: {name: pairs_file, path: pairs.jsonl}              # columns prompt, chosen, rejected
    task: {name: pairs_file, path: pairs.csv, prompt_column: question, chosen_column: good, rejected_column: bad}

The chosen response is the better one (ground truth). A response that does not start with whitespace gets a
leading space, so the prompt/response cut falls on a token boundary as trl's trainers expect. Rows missing a
field, or with identical responses, are skipped. Without `test_path`, split_examples carves the test set out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.registry import TASKS
from engine.tasks._files import drop_incomplete, plain, read_table, require_columns
from engine.tasks.base import Example, Task, TaskConfig, TaskError, make_pair


@TASKS.register("pairs_file")
class PairsFile(Task):
    """Your own preference pairs: a CSV, JSONL or Parquet file with prompt, chosen (better) and rejected columns."""

    kind = "preference"
    version = "1"
    max_new_tokens = 128
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


def _text(value: Any, role: str) -> str:
    """A pair field as text: a string, or the last `role` turn of a chat-message list (released pair datasets store
    chosen / rejected as whole conversations)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and value and all(isinstance(m, dict) for m in value):
        turns = [m.get("content", "") for m in value if m.get("role") == role]
        return str(turns[-1]) if turns else ""
    return "" if value is None else str(value)


def read_pairs(source: str, chosen_column: str = "chosen", rejected_column: str = "rejected",
               prompt_column: str = "prompt", split: str = "train") -> list[Example]:
    """Preference pairs from a local file (CSV / JSONL / Parquet) or a hub dataset id: a prompt, a chosen and a
    rejected column (released pair data often names the two by model, e.g. Geng et al.'s model ladder has a column
    per model); chosen / rejected may be chat-message lists (the prompt is then the last user turn when there is no
    prompt column). TaskError with the fix when the source cannot be read."""
    from pathlib import Path

    if Path(source).expanduser().is_file():
        rows = read_table(source).to_dict("records")
        where = f"file {source}"
    else:
        import datasets

        from engine.tasks._hub import _offline_env_honoured, _one_line

        where = f"hub dataset '{source}'"
        with _offline_env_honoured():
            try:
                rows = list(datasets.load_dataset(source, split=split))
            except Exception as exc:
                raise TaskError(f"cannot load pairs from {where} ({_one_line(exc)}). Fix: check the id and the "
                                "connection, or give a local pairs file") from None
    columns = sorted(rows[0]) if rows else []
    for col in (chosen_column, rejected_column):
        if rows and col not in rows[0]:
            raise TaskError(f"{where} has no column '{col}' (columns: {', '.join(map(str, columns))}). Fix: set "
                            "chosen_column / rejected_column")
    out = []
    for i, row in enumerate(rows):
        chosen, rejected = _text(row.get(chosen_column), "assistant"), _text(row.get(rejected_column), "assistant")
        prompt = row.get(prompt_column)
        prompt = None if isinstance(prompt, float) and prompt != prompt else prompt  # a missing cell (NaN)
        if prompt is None and not isinstance(row.get(chosen_column), list | tuple):
            raise TaskError(f"{where} has no prompt column and its chosen column is not a chat. Fix: give prompt, "
                            "chosen and rejected columns")
        prompt = _text(prompt, "user") if prompt is not None else _text(row.get(chosen_column), "user")
        if prompt.strip() and chosen.strip() and rejected.strip() and chosen.strip() != rejected.strip():
            out.append(make_pair(prompt, _spaced(chosen), _spaced(rejected), row=i))
    if not out:
        raise TaskError(f"{where} has no row with a prompt and two different responses (columns {prompt_column}, "
                        f"{chosen_column}, {rejected_column}). Fix: check the source")
    return out
