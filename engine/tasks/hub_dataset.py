"""Any classification dataset on the Hugging Face hub, named by id, subset, revision, splits and columns.

    task: {name: hub_dataset, dataset: stanfordnlp/imdb, text_column: text, label_column: label,
           split: train, test_split: test, revision: main}

The rows are read with `datasets.load_dataset(dataset, subset, revision=...)` (or from `data_files`, a local
copy in the hub's layout: files named train-00000-of-00001.parquet, test.jsonl, validation.csv, ... in a folder,
read instead of the hub), then treated like the user-file task (engine.tasks.file): text = the `text_column`
cell, or "{text}\\n{pair}" with `text_pair_column`; rows missing a used cell are skipped and counted in the
notes; the label column must hold two values (0/1, booleans, a two-class ClassLabel or two strings, mapped in
sorted order, or 1 for `positive_label`, which may be a ClassLabel name), computed over both splits together.
Without `test_split` the test set is carved from `split`. A `max_rows` or a run's n_train / n_test reads a
seeded random sample of each split, never its first rows.

The config is checked when it is submitted, like a file task's (the dataset is downloaded then, into the
Hugging Face cache the worker reads again): a missing split or column, a third class or one class only is a
one-line message naming the setting to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.registry import TASKS
from engine.tasks._files import drop_incomplete, plain
from engine.tasks._hub import HubConfig, HubTask
from engine.tasks.base import Example, TaskError, make_example
from engine.tasks.file import _label_mapping


@TASKS.register("hub_dataset")
class HubDataset(HubTask):
    """Any hub dataset with a text column and a two-valued label column (dataset id, subset, revision, splits
    and columns as settings), checked like a file task; `data_files` reads a local copy in the hub's layout."""

    version = "1"
    loads_locally = True  # checked at submit: the download doubles as the worker's cache

    @dataclass
    class Config(HubConfig):
        """Which dataset, splits and columns."""

        dataset: str = field(default="", metadata={"help": "Hub dataset id, e.g. stanfordnlp/imdb."})
        subset: str | None = field(default=None, metadata={
            "help": "The dataset's configuration (subset) name, where it has several, e.g. main; empty = default."})
        split: str = field(default="train", metadata={"help": "Split the training pool comes from."})
        test_split: str | None = field(default="test", metadata={
            "help": "Split of the test set (e.g. validation); empty = carve the test set from split."})
        text_column: str = field(default="text", metadata={"help": "Column with the text to classify."})
        text_pair_column: str | None = field(default=None, metadata={
            "help": "Optional second text column, joined to the first with a newline."})
        label_column: str = field(default="label", metadata={
            "help": "Column with the label: 0/1, booleans, a two-class ClassLabel or two distinct values."})
        positive_label: str | None = field(default=None, metadata={
            "help": "Label value (or ClassLabel name) that means 1; empty = 0/1, false/true or sorted order."})

        def __post_init__(self) -> None:
            super().__post_init__()
            if not str(self.split or "").strip():
                raise TaskError("split is empty; name the hub split the training pool comes from, e.g. train")

    def __init__(self, config: Config | None = None):
        super().__init__(config)
        cfg = self.config
        self.hub_id, self.hub_config = cfg.dataset.strip(), cfg.subset or None
        self.hub_splits = {"train": cfg.split} | ({"test": cfg.test_split} if cfg.test_split else {})
        self.columns = tuple(c for c in (cfg.text_column, cfg.text_pair_column, cfg.label_column) if c)

    def load(self, limit: int | None = None) -> dict[str, list[Example]]:
        cfg = self.config
        if not self.hub_id and cfg.data_files is None:
            raise TaskError("task 'hub_dataset' has no dataset. Fix: set dataset to a hub id (e.g. "
                            "stanfordnlp/imdb) or data_files to a local copy")
        local = cfg.data_files is not None
        splits, where = self._read_local() if local else self._read_hub()
        budget = self._row_budget(limit)
        frames, positive = {}, cfg.positive_label
        for pool, wanted in self.hub_splits.items():
            name = self._split_name(pool, wanted, splits, where, local)
            if name is None:
                continue
            ds = splits[name]
            self._check_columns(ds.column_names, f"{where} split '{name}'", local)
            names = getattr(ds.features.get(cfg.label_column), "names", None)  # a ClassLabel's class names
            if names and positive in names:
                positive = str(names.index(positive))
            if budget is not None and budget < len(ds):
                ds = ds.shuffle(seed=cfg.seed, keep_in_memory=True).select(range(budget))
            df = drop_incomplete(ds.select_columns(list(self.columns)).to_pandas(), list(self.columns),
                                 f"{where} split '{name}'", self.notes)
            frames[pool] = (name, df, names)
        values = [v for _, df, _ in frames.values() for v in df[cfg.label_column]]
        mapping = _label_mapping(values, cfg.label_column, where, positive)
        if any(not (isinstance(v, bool) or v in (0, 1)) or int(v) != mapping[v] for v in mapping):
            shown = ", ".join(f"{v!r} -> {i}" for v, i in sorted(mapping.items(), key=lambda kv: kv[1]))
            self.notes.append(f"label column '{cfg.label_column}' mapped {shown}")
        pools = {}
        for pool, (name, df, names) in frames.items():
            texts = df[cfg.text_column].astype(str)
            if cfg.text_pair_column:
                texts = texts + "\n" + df[cfg.text_pair_column].astype(str)
            pools[pool] = [
                make_example(text, mapping[plain(value)], split=name, label_value=plain(value),
                             **({"label_name": names[int(value)]} if names else {}))
                for text, value in zip(texts, df[cfg.label_column], strict=True)]
        return pools

    def _split_name(self, pool: str, wanted: str, splits: dict[str, Any], where: str, local: bool) -> str | None:
        if wanted in splits:
            return wanted
        if local and pool == "test":
            return next((s for s in ("test", "validation") if s in splits), None)
        setting = "split" if pool == "train" else "test_split"
        carve = " or leave test_split empty to carve the test set from split" if pool == "test" else ""
        raise TaskError(f"{where} has no split '{wanted}' (splits: {', '.join(sorted(splits)) or 'none'}). Fix: set "
                        f"{setting} to one of them{carve}")

    def _check_columns(self, present: list[str], where: str, local: bool) -> None:
        for col, setting in ((self.config.text_column, "text_column"), (self.config.text_pair_column,
                             "text_pair_column"), (self.config.label_column, "label_column")):
            if col and col not in present:
                raise TaskError(f"{where} has no column '{col}' (columns: {', '.join(present)}). Fix: set {setting} "
                                "to one of them")

    def _fix(self) -> str:
        return "check dataset, subset and revision, or set data_files to a local copy in the hub's layout"
