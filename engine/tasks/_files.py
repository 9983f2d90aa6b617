"""Reading the user's data files (CSV / TSV, JSON lines or JSON, Parquet, optionally gzipped), shared by the file
tasks (`file`, `pairs_file`, `safety_file`) and the engine's upload endpoint.

    df = read_table("reviews.csv")                   # TaskError naming the path and the fix on any problem
    df = read_table("upload:3f2a9c01d4e5b6a7-reviews.csv")   # a file uploaded to the engine (uploads folder)
    require_columns(df, "reviews.csv", [("review", "text_column")])

A CSV whose rows do not all have as many fields as its header is refused, naming the first such line: pandas
would otherwise shift the columns (an unquoted comma in the text of the first row moves every value one column
to the right) and the run would fail later with a misleading "all examples have one label".
"""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path
from typing import Any

from engine import paths
from engine.tasks.base import TaskError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}
UPLOAD = "upload:"  # prefix of a file uploaded to the engine: upload:<name in the uploads folder>


def is_upload(path: Any) -> bool:
    return isinstance(path, str) and path.startswith(UPLOAD)


def upload_name(path: str) -> str:
    """The stored name in `upload:<name>`; TaskError when it could leave the uploads folder."""
    name = path[len(UPLOAD):]
    if not name or name != Path(name).name or name.startswith("."):
        raise TaskError(f"{path} is not an upload reference; upload the file again and use the reference it gets")
    return name


def local_path(path: str) -> Path:
    """Where a task's file lives: an upload reference resolves inside the engine's uploads folder."""
    if is_upload(path):
        return paths.uploads_dir() / upload_name(path)
    return Path(path).expanduser()


def check_csv_shape(p: Path, path: str, sep: str) -> None:
    """TaskError when a row has more or fewer fields than the header (counted over the whole file)."""
    opener = gzip.open if p.name.lower().endswith(".gz") else open
    bad, first = 0, None
    try:
        with opener(p, "rt", encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.reader(f, delimiter=sep)
            header = next(reader, None)
            width = len(header or [])
            for row in reader:
                if row and len(row) != width:
                    bad += 1
                    if first is None:
                        first = (reader.line_num, len(row))
    except (OSError, csv.Error, EOFError) as exc:
        raise TaskError(f"cannot read file {path} as csv ({exc}). Fix: check the file's format") from None
    if bad:
        line, n = first
        more = f" (and {bad - 1:,} more such row{'s' if bad > 2 else ''})" if bad > 1 else ""
        raise TaskError(f"file {path}: line {line} has {n} fields but the header has {width}{more}. Fix: quote "
                        f"text that contains the separator (\"like, this\") or repair those rows")


def read_table(path: str) -> Any:
    import pandas as pd

    p = local_path(path)
    if not p.is_file():
        if is_upload(path):
            raise TaskError(f"uploaded file {upload_name(path)} is no longer on the engine (uploads expire). "
                            "Fix: upload it again")
        where = "" if p.is_absolute() else f" (relative to {os.getcwd()})"
        raise TaskError(f"file {path} does not exist{where}. Fix: check path / test_path")
    name = p.name.lower().removesuffix(".gz")
    fmt = FORMATS.get(Path(name).suffix)
    if fmt is None:
        raise TaskError(f"file {path} has an unknown extension; use .csv, .jsonl or .parquet (optionally .gz)")
    try:
        if fmt == "parquet":
            return pd.read_parquet(p, engine="pyarrow")
        if fmt in ("csv", "tsv"):
            sep = "\t" if fmt == "tsv" else ","
            check_csv_shape(p, path, sep)
            # Keep "NA", "null", "None" as text; only empty cells are missing. index_col=False: never take the
            # first column as the index because a row is one field longer than the header.
            return pd.read_csv(p, sep=sep, keep_default_na=False, na_values=[""], index_col=False)
        if fmt == "jsonl":
            return pd.read_json(p, lines=True, dtype=False, convert_dates=False)
        try:  # .json: an array of records, else JSON lines
            return pd.read_json(p, dtype=False, convert_dates=False)
        except ValueError:
            return pd.read_json(p, lines=True, dtype=False, convert_dates=False)
    except TaskError:
        raise
    except Exception as exc:
        message = " ".join(str(exc).split())[:200]
        raise TaskError(f"cannot read file {path} as {fmt} ({message}). Fix: check the file's format") from None


def require_columns(df: Any, path: str, needed: list[tuple[str, str]]) -> None:
    """TaskError naming the first (column, setting) of `needed` the file lacks, with the columns it has."""
    columns = [str(c) for c in df.columns]
    for col, setting in needed:
        if col not in columns:
            raise TaskError(f"file {path} has no column '{col}' (columns: {', '.join(columns)}); set {setting}")


def drop_incomplete(df: Any, columns: list[str], path: str, notes: list[str]) -> Any:
    """The rows with every one of `columns` filled in; how many were skipped goes to `notes`."""
    kept = df.dropna(subset=columns)
    if len(kept) < len(df):
        notes.append(f"file {path}: {len(df) - len(kept):,} of {len(df):,} rows skipped because "
                     f"{' / '.join(repr(c) for c in columns)} is empty in them")
    return kept


def plain(value: Any) -> Any:
    """numpy scalars to Python ones (hashable the same way, JSON-able for meta)."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
