"""Reading the user's data files (CSV / TSV, JSON lines or JSON, Parquet, optionally gzipped), shared by the file
tasks (`file`, `pairs_file`, `safety_file`) and the engine's upload endpoint.

    df = read_table("reviews.csv")                   # TaskError naming the path and the fix on any problem
    require_columns(df, "reviews.csv", [("review", "text_column")])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.tasks.base import TaskError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


def read_table(path: str) -> Any:
    import pandas as pd

    p = Path(path).expanduser()
    if not p.is_file():
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
            # Keep "NA", "null", "None" as text; only empty cells are missing.
            return pd.read_csv(p, sep="\t" if fmt == "tsv" else ",", keep_default_na=False, na_values=[""])
        if fmt == "jsonl":
            return pd.read_json(p, lines=True, dtype=False, convert_dates=False)
        try:  # .json: an array of records, else JSON lines
            return pd.read_json(p, dtype=False, convert_dates=False)
        except ValueError:
            return pd.read_json(p, lines=True, dtype=False, convert_dates=False)
    except Exception as exc:
        message = " ".join(str(exc).split())[:200]
        raise TaskError(f"cannot read file {path} as {fmt} ({message}). Fix: check the file's format") from None


def require_columns(df: Any, path: str, needed: list[tuple[str, str]]) -> None:
    """TaskError naming the first (column, setting) of `needed` the file lacks, with the columns it has."""
    columns = [str(c) for c in df.columns]
    for col, setting in needed:
        if col not in columns:
            raise TaskError(f"file {path} has no column '{col}' (columns: {', '.join(columns)}); set {setting}")


def plain(value: Any) -> Any:
    """numpy scalars to Python ones (hashable the same way, JSON-able for meta)."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
