"""The user's own data: a CSV, JSONL or Parquet file with a text column and a two-valued label column.

    task: {name: file, path: reviews.csv, text_column: review, label_column: sentiment}

The format comes from the extension: .csv (.tsv), .jsonl / .json, .parquet, each optionally .gz (not
parquet). Text = the `text_column` cell, or "{text}\\n{pair}" with `text_pair_column` (question and
passage, premise and hypothesis). Rows missing the text, the pair or the label are skipped.

Labels may be 0/1, booleans (false = 0, true = 1) or any two distinct values; the latter are mapped in
sorted order (so "negative"/"positive", "no"/"yes" and "false"/"true" come out 0/1), or 1 for
`positive_label` and 0 for the other. The mapping is computed over train and test files together and each
example keeps its original value in meta["label_value"]. A file with a single class loads; split_examples
then refuses it with a message.

Without `test_path`, split_examples carves the test set out of the file. Under a `limit` a pool is a
seeded random sample of the rows (kept in file order), never the first N: user files are often sorted
by label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.registry import TASKS
from engine.tasks._files import drop_incomplete, plain, read_table, require_columns
from engine.tasks.base import Example, Task, TaskConfig, TaskError, make_example


@TASKS.register("file")
class FileTask(Task):
    """Your own CSV, JSONL or Parquet file: a text column (optionally a second text joined with a newline)
    and a label column with two values (0/1, booleans or two strings)."""

    version = "1"
    label_names = ("0", "1")
    loads_locally = True

    @dataclass
    class Config(TaskConfig):
        """Where the file is and which columns hold text and label."""

        path: str = field(default="", metadata={"help": "CSV, JSONL or Parquet file (format from the extension)."})
        text_column: str = field(default="text", metadata={"help": "Column with the text to classify."})
        label_column: str = field(
            default="label", metadata={"help": "Column with the label: 0/1, true/false or two distinct values."}
        )
        text_pair_column: str | None = field(
            default=None, metadata={"help": "Optional second text column, joined to the first with a newline."}
        )
        test_path: str | None = field(
            default=None,
            metadata={"help": "Optional test file with the same columns; empty = carve the test set from path."},
        )
        positive_label: str | None = field(
            default=None,
            metadata={"help": "Label value that means 1 (the other becomes 0); empty = 0/1, false/true or the "
                              "sorted order of the two values."},
        )

    def load(self, limit: int | None = None) -> dict[str, list[Example]]:
        cfg = self.config
        if not str(cfg.path).strip():
            raise TaskError("task 'file' has no path. Fix: set path to a CSV, JSONL or Parquet file")
        paths = {"train": cfg.path} | ({"test": cfg.test_path} if cfg.test_path else {})
        frames = {pool: self._read_rows(path) for pool, path in paths.items()}
        values = [v for df in frames.values() for v in df[cfg.label_column]]
        mapping = _label_mapping(values, cfg.label_column, " and ".join(paths.values()), cfg.positive_label)
        if any(not (isinstance(v, bool) or v in (0, 1)) or int(v) != mapping[v] for v in mapping):
            shown = ", ".join(f"{v!r} -> {i}" for v, i in sorted(mapping.items(), key=lambda kv: kv[1]))
            how = "positive_label" if cfg.positive_label is not None else "sorted order; set positive_label to choose"
            self.notes.append(f"label column '{cfg.label_column}' mapped {shown} ({how})")
        pools = {}
        for pool, df in frames.items():
            if limit is not None and len(df) > limit:
                df = df.sample(n=limit, random_state=0).sort_index()
            texts = df[cfg.text_column].astype(str)
            if cfg.text_pair_column:
                texts = texts + "\n" + df[cfg.text_pair_column].astype(str)
            pools[pool] = [
                make_example(text, mapping[plain(value)], row=plain(index), label_value=plain(value))
                for index, text, value in zip(df.index, texts, df[cfg.label_column], strict=True)
            ]
        return pools

    def _read_rows(self, path: str) -> Any:
        cfg = self.config
        df = read_table(path)
        needed = [(cfg.text_column, "text_column/label_column"), (cfg.label_column, "text_column/label_column")]
        if cfg.text_pair_column:
            needed.append((cfg.text_pair_column, "text_pair_column"))
        require_columns(df, path, needed)
        used = [cfg.text_column, cfg.label_column] + ([cfg.text_pair_column] if cfg.text_pair_column else [])
        df = drop_incomplete(df, used, path, self.notes)
        if df.empty:
            raise TaskError(
                f"file {path} has no row with both '{cfg.text_column}' and '{cfg.label_column}' filled in. "
                "Fix: check the column names and the file's contents"
            )
        return df


def _label_mapping(values: list[Any], column: str, where: str, positive: str | None) -> dict[Any, int]:
    distinct = sorted({plain(v) for v in values}, key=lambda v: (isinstance(v, str), str(v)))
    shown = ", ".join(repr(v) for v in distinct[:10]) + (", ..." if len(distinct) > 10 else "")
    if len(distinct) > 2:
        raise TaskError(
            f"file {where}: label column '{column}' has {len(distinct)} values ({shown}); a task needs two classes. "
            "Fix: map them to two values (e.g. 0/1) or set label_column to a two-valued column"
        )
    if positive is not None:
        hits = [v for v in distinct if str(v).strip().lower() == positive.strip().lower()]
        if not hits:
            raise TaskError(
                f"file {where}: positive_label '{positive}' is not a value of column '{column}' (values: {shown}). "
                "Fix: set positive_label to one of them"
            )
        return {v: int(v in hits) for v in distinct}
    if all(isinstance(v, bool) or (isinstance(v, int | float) and v in (0, 1)) for v in distinct):
        return {v: int(v) for v in distinct}
    # Two other values: numbers in numeric order, text in alphabetical order (no < yes, negative < positive).
    if all(isinstance(v, int | float) for v in distinct):
        distinct.sort()
    else:
        distinct.sort(key=lambda v: str(v).lower())
    return {v: i for i, v in enumerate(distinct)}
