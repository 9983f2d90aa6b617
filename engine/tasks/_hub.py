"""Shared base of the tasks that load a Hugging Face hub dataset (sciq, boolq, anthropic_hh, cosmos_qa, ...).

A subclass names the hub id, which hub split feeds each pool, the columns it reads, and turns one row
into zero, one or two Examples:

    @TASKS.register("boolq")
    class BoolQ(HubTask):
        hub_id = "google/boolq"
        hub_splits = {"train": "train", "test": "validation"}
        columns = ("question", "passage", "answer")
        def row_examples(self, row): ...

`Config.data_files` points at a local copy in the hub's own format (parquet, json/jsonl, csv; a file, a
glob or a folder, optionally .gz) that is read instead of the hub; the tests and offline machines use it.
Files go to splits by the words in their names, as on the hub (`train-00000-of-00001.parquet`,
`test.jsonl.gz`, `validation.csv`); a name without a split word is train.

`Task.load(limit)` counts examples per pool (with `pairs`, half as many rows are read); `max_rows` counts
source rows per split. Under either, a pool is built from a seeded random sample of the split's rows
(`Dataset.shuffle(seed)` then the first N), never from the first N rows as stored: hub splits are often
ordered by source or label, and their first rows are not a fair sample.

Every loading problem (no network, a script-only repo, a missing split or column) raises TaskError with
a one-line message that names the problem and the fix.
"""

from __future__ import annotations

import glob
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from engine.tasks.base import Example, Task, TaskConfig, TaskError

# Repos that still hold a loading script (which recent datasets versions no longer run) keep the hub's automatic
# parquet conversion on this branch; it is tried once when the main branch turns out to be a script.
PARQUET_EXPORT = "refs/convert/parquet"

_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv"}
_COMPRESSION = (".gz", ".bz2", ".xz", ".zst")
# The split words the hub recognises in file and folder names (datasets.data_files.SPLIT_KEYWORDS).
_SPLIT_WORDS = {
    "train": {"train", "training"},
    "validation": {"validation", "valid", "dev", "val"},
    "test": {"test", "testing", "eval", "evaluation"},
}


@dataclass
class HubConfig(TaskConfig):
    """Settings every hub task shares: where the data comes from and which rows are read."""

    data_files: str | None = field(
        default=None,
        metadata={"help": "Local copy in the hub's own format (parquet, json/jsonl or csv: a file, glob or folder), "
                          "read instead of the hub. Split comes from the file name (train*, validation*, test*)."},
    )
    revision: str | None = field(
        default=None, metadata={"help": "Hub branch, tag or commit to pin; empty = main. Ignored with data_files."}
    )
    seed: int = field(
        default=0,
        metadata={"help": "Seed of the formatting choices (coin flips, which wrong answer) and of the row sample "
                          "under a limit. The A/B split uses the run's seed, not this one."},
    )
    max_rows: int | None = field(
        default=None,
        metadata={"help": "Read at most this many rows per split, a seeded random sample; empty = every row."},
    )

    def __post_init__(self) -> None:
        if self.max_rows is not None and self.max_rows < 1:
            raise TaskError(f"max_rows={self.max_rows} must be >= 1; leave it empty to read every row")
        if self.data_files is not None and not str(self.data_files).strip():
            raise TaskError("data_files is an empty string; leave it empty to use the hub or give a path")


@dataclass
class PairedHubConfig(HubConfig):
    """For tasks built from a right and a wrong candidate (sciq, cosmos_qa, anthropic_hh)."""

    pairs: bool = field(
        default=False,
        metadata={"help": "Emit both the right and a wrong candidate per source row (balanced by construction) "
                          "instead of one seeded coin flip per row. Caution: the two can land in different "
                          "halves, so the weak model may have seen the question it later labels."},
    )


class HubTask(Task):
    """A task read from a hub dataset with `datasets.load_dataset` (or from `Config.data_files`)."""

    Config: ClassVar[type[TaskConfig]] = HubConfig
    hub_id: ClassVar[str] = ""
    hub_config: ClassVar[str | None] = None  # the dataset's configuration name, where it has several (legalbench)
    # pool name -> hub split that feeds it (boolq and cosmos_qa test on "validation").
    hub_splits: ClassVar[dict[str, str]] = {"train": "train", "test": "test"}
    columns: ClassVar[tuple[str, ...]] = ()

    def row_examples(self, row: dict[str, Any]) -> list[Example]:
        """The examples one source row yields (none when the row cannot be used)."""
        raise NotImplementedError

    def data_dir(self) -> str | None:
        """The hub repo folder to read (anthropic_hh subsets); None = the whole repo."""
        return None

    @property
    def examples_per_row(self) -> int:
        return 2 if getattr(self.config, "pairs", False) else 1

    def load(self, limit: int | None = None) -> dict[str, list[Example]]:
        local = self.config.data_files is not None
        splits, where = self._read_local() if local else self._read_hub()
        rows = self._row_budget(limit)
        pools: dict[str, list[Example]] = {}
        for pool, wanted in self.hub_splits.items():
            name = self._pick_split(pool, wanted, splits, where, local)
            if name is None:
                continue  # a local copy without a test file: split_examples carves a test set from train
            ds = splits[name]
            self._check_columns(ds.column_names, f"{where} split '{name}'", local)
            if rows is not None and rows < len(ds):
                ds = ds.shuffle(seed=self.config.seed, keep_in_memory=True).select(range(rows))
            examples = [e for row in ds for e in self.row_examples(row)]
            pools[pool] = examples[:limit] if limit is not None else examples
        return pools

    # -- sources -------------------------------------------------------------------------------------------

    def _read_hub(self) -> tuple[dict[str, Any], str]:
        import datasets

        revision, data_dir = self.config.revision, self.data_dir()
        where = f"'{self.hub_id}'" + (f" ({self.hub_config or data_dir})" if self.hub_config or data_dir else "")
        with _offline_env_honoured():
            try:
                try:
                    loaded = datasets.load_dataset(self.hub_id, name=self.hub_config, data_dir=data_dir,
                                                   revision=revision)
                except RuntimeError as exc:
                    if "scripts are no longer supported" not in str(exc) or revision or data_dir:
                        raise
                    loaded = datasets.load_dataset(self.hub_id, name=self.hub_config, revision=PARQUET_EXPORT)
            except ConnectionError as exc:
                raise TaskError(
                    f"cannot download {where} from the hub ({_one_line(exc)}). "
                    "Fix: check the connection or set data_files to a local copy"
                ) from None
            except RuntimeError as exc:
                if "scripts are no longer supported" in str(exc):
                    raise TaskError(
                        f"{where} at revision '{revision or 'main'}' is a loading script, which datasets no longer "
                        f"runs. Fix: set revision to '{PARQUET_EXPORT}' or data_files to a local parquet copy"
                    ) from None
                raise TaskError(f"cannot load {where} from the hub ({_one_line(exc)}). Fix: {self._fix()}") from None
            except Exception as exc:  # DatasetNotFoundError, gated repos, bad revisions, broken files
                raise TaskError(f"cannot load {where} from the hub ({_one_line(exc)}). Fix: {self._fix()}") from None
        return dict(loaded), where

    def _read_local(self) -> tuple[dict[str, Any], str]:
        import datasets

        spec = str(self.config.data_files)
        where = f"data_files '{spec}'"
        files = _split_files(spec)
        if not files:
            raise TaskError(
                f"{where} matches no file. Fix: give an existing file, glob or folder of the {self.hub_id} data"
            )
        builders = {_builder(f) for fs in files.values() for f in fs}
        if None in builders or len(builders) > 1:
            found = ", ".join(sorted({_suffix(f) for fs in files.values() for f in fs}))
            raise TaskError(
                f"{where} holds files of type {found}; need one of parquet, json, jsonl or csv (optionally .gz). "
                "Fix: point data_files at files of a single supported type"
            )
        try:
            loaded = datasets.load_dataset(builders.pop(), data_files=files)
        except Exception as exc:
            raise TaskError(f"cannot read {where} ({_one_line(exc)}). Fix: {self._fix()}") from None
        return dict(loaded), where

    def _fix(self) -> str:
        return f"set data_files to a local copy of {self.hub_id} with columns {', '.join(self.columns)}"

    def _pick_split(self, pool: str, wanted: str, splits: dict[str, Any], where: str, local: bool) -> str | None:
        if wanted in splits:
            return wanted
        if local and pool == "test":
            # A local copy may name its held-out file test.* where the hub says validation (or the reverse).
            return next((s for s in ("test", "validation") if s in splits), None)
        found = ", ".join(sorted(splits)) or "none"
        fix = "name a file train.* (or train-00000-of-00001.*)" if local else self._fix()
        raise TaskError(f"{where} has no '{wanted}' split (found: {found}). Fix: {fix}")

    def _check_columns(self, present: list[str], where: str, local: bool) -> None:
        for col in self.columns:
            if col not in present:
                fix = (f"give a copy in the {self.hub_id} format (columns: {', '.join(self.columns)})" if local
                       else "pin an older revision or set data_files to a local copy")
                raise TaskError(f"{where} has no column '{col}' (columns: {', '.join(present)}). Fix: {fix}")

    def _row_budget(self, limit: int | None) -> int | None:
        """Source rows to read: enough for `limit` examples, capped by max_rows."""
        caps = [self.config.max_rows] if self.config.max_rows is not None else []
        if limit is not None:
            caps.append(max(1, math.ceil(limit / self.examples_per_row)))
        return min(caps) if caps else None


# -- helpers -------------------------------------------------------------------------------------------------


def clean(value: Any) -> str:
    """A source field as text: None becomes empty, surrounding whitespace goes."""
    return "" if value is None else str(value).strip()


def as_bool(value: Any, column: str) -> bool:
    """A yes/no cell from parquet (bool), csv or json (bool, 0/1 or 'true'/'false')."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "0", "1"):
        return value.strip().lower() in ("true", "1")
    raise TaskError(f"column '{column}' holds {value!r}; expected true/false. Fix: check the data_files copy")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _suffix(path: str) -> str:
    name = Path(path).name.lower()
    for comp in _COMPRESSION:
        if name.endswith(comp):
            return Path(name[: -len(comp)]).suffix + comp
    return Path(name).suffix or "(no extension)"


def _builder(path: str) -> str | None:
    name = Path(path).name.lower()
    for comp in _COMPRESSION:
        name = name.removesuffix(comp)
    return _BUILDERS.get(Path(name).suffix)


def _split_of(parts: tuple[str, ...]) -> str:
    """The split named by a file's name or, failing that, by a folder below the data_files root."""
    for part in reversed(parts):
        words = set(re.split(r"[^a-z]+", part.lower()))
        for split, keys in _SPLIT_WORDS.items():
            if words & keys:
                return split
    return "train"


def _split_files(spec: str) -> dict[str, list[str]]:
    root = Path(spec).expanduser()
    if root.is_dir():
        paths = [p for p in sorted(root.rglob("*")) if p.is_file() and _builder(p.name)]
        named = [(str(p), p.relative_to(root).parts) for p in paths]
    else:
        # Only the file name counts here: the folders above a file (a temp dir called test_x) say nothing.
        named = [(p, (Path(p).name,)) for p in sorted(glob.glob(str(root), recursive=True)) if os.path.isfile(p)]
    out: dict[str, list[str]] = {}
    for path, parts in named:
        out.setdefault(_split_of(parts), []).append(path)
    return out


@contextmanager
def _offline_env_honoured() -> Iterator[None]:
    """datasets and huggingface_hub read HF_HUB_OFFLINE once, at import. Honour a value set later (a test,
    a notebook cell): otherwise each download is retried for ~25 s before the error comes."""
    flags = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    if not any(os.environ.get(f, "").upper() in ("1", "ON", "YES", "TRUE") for f in flags):
        yield
        return
    import datasets.config
    import huggingface_hub.constants as hub_constants

    saved = datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE = saved
