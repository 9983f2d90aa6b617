"""Read-only SQL on the runs database, and a consistent snapshot of it for offline analysis.

    table, truncated = run_sql(store, "SELECT method, avg(value) FROM runs JOIN metrics ...", limit=10_000)
    snapshot(store, "copy.duckdb")       # a file any process can open while the engine keeps writing

DuckDB lets no other process open the file while the engine writes (not even read-only), so user SQL runs inside
the engine, on its own cursor, in `BEGIN TRANSACTION READ ONLY`, interrupted after `timeout` seconds (interrupting
the cursor, not the connection, is what stops it). What is accepted is checked first, on DuckDB's own parse:
exactly one statement, a SELECT (WITH, FROM-first, SUMMARIZE, DESCRIBE) or EXPLAIN, reading only the database's
tables and views: table functions that reach files (read_csv, read_parquet, glob, ...), a quoted file name in
FROM, COPY, ATTACH, SET and PRAGMA are refused with a message saying why, since a read-only transaction still
lets a query read or write files. Every refusal is an SqlError.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import duckdb

# Table functions a query may call: they compute, or describe the database; none reads a file.
TABLE_FUNCTIONS = {"range", "generate_series", "unnest", "duckdb_tables", "duckdb_columns", "duckdb_views",
                   "duckdb_types", "duckdb_functions", "duckdb_constraints", "duckdb_indexes", "pragma_table_info"}
# Scalar functions that reach the machine rather than the database.
REFUSED_FUNCTIONS = {"getenv", "read_text", "read_blob", "current_setting", "sql_auto_complete"}
ALLOWED_TYPES = ("SELECT", "EXPLAIN")
MAX_LIMIT = 1_000_000


class SqlError(ValueError):
    """A query that is refused or failed; the message says why and what to write instead."""


def check_sql(con: Any, sql: str) -> str:
    """The one statement of `sql` if it only reads the database, else SqlError."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlError(f"the query does not parse: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise SqlError(f"send exactly one statement, got {len(statements)}; split them into separate queries")
    kind = statements[0].type.name
    if kind not in ALLOWED_TYPES:
        raise SqlError(f"only SELECT and EXPLAIN are run here (got {kind}): the database is "
                       "read-only through this endpoint. Fix: write a SELECT, or work on a copy (`w2s snapshot`)")
    query = statements[0].query.strip().rstrip(";").strip()
    inner = re.sub(r"^\s*explain(\s+analyze)?\s+", "", query, flags=re.I) if kind == "EXPLAIN" else query
    cur = con.cursor()
    try:
        tree = json.loads(cur.execute("SELECT json_serialize_sql(?)", [inner]).fetchone()[0])
        known = {r[0].lower() for r in cur.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT internal UNION "
            "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        database = cur.execute("SELECT current_database()").fetchone()[0]
    finally:
        cur.close()
    if tree.get("error"):
        raise SqlError(f"this query cannot be checked as read-only ({tree.get('error_message')}). Fix: write it as "
                       "a plain SELECT")
    tables, functions, ctes = _walk(tree)
    for name, schema, catalog in tables:
        if name.lower() not in known | ctes or schema.lower() not in ("", "main") or catalog not in ("", database):
            raise SqlError(f"'{'.'.join(p for p in (catalog, schema, name) if p)}' is not a table of the database; "
                           f"this endpoint reads only its tables ({', '.join(sorted(known))}). Reading files is not "
                           "offered here: open a snapshot (`w2s snapshot`) with duckdb yourself")
    for name, is_table in functions:
        if (is_table and name not in TABLE_FUNCTIONS) or name in REFUSED_FUNCTIONS:
            raise SqlError(f"{name}() reaches outside the database (files, settings or the environment), which "
                           "this endpoint does not allow; query the database's tables instead")
    return query


def _walk(tree: Any) -> tuple[list[tuple[str, str, str]], list[tuple[str, bool]], set[str]]:
    """(base tables, functions called (name, is a table function), CTE names) anywhere in a serialized query."""
    tables, functions, ctes = [], [], set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        if node.get("type") == "BASE_TABLE":
            tables.append((str(node.get("table_name", "")), str(node.get("schema_name", "")),
                           str(node.get("catalog_name", ""))))
        elif node.get("type") == "TABLE_FUNCTION":
            functions.append((str((node.get("function") or {}).get("function_name", "")).lower(), True))
        elif node.get("class") == "FUNCTION":
            functions.append((str(node.get("function_name", "")).lower(), False))
        if isinstance(node.get("cte_map"), dict):
            ctes |= {str(e.get("key", "")).lower() for e in node["cte_map"].get("map", [])}
        stack.extend(node.values())
    return tables, functions, ctes


def run_sql(store: Any, sql: str, limit: int = 10_000, timeout: float = 30.0) -> tuple[Any, bool]:
    """(pyarrow Table of at most `limit` rows, whether more rows matched) for a checked read-only query."""
    import pyarrow as pa

    if not 1 <= limit <= MAX_LIMIT:
        raise SqlError(f"limit={limit} must be between 1 and {MAX_LIMIT:,}")
    query = check_sql(store.con, sql)
    cur = store.con.cursor()
    timer = threading.Timer(timeout, cur.interrupt)  # the cursor's own interrupt; the connection's would not stop it
    try:
        cur.execute("BEGIN TRANSACTION READ ONLY")
        timer.start()
        reader = cur.sql(query).to_arrow_reader(min(limit + 1, 10_000))
        batches, rows = [], 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if rows > limit:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.InterruptException:
        raise SqlError(f"the query ran longer than {timeout:g} s and was stopped. Fix: add filters or LIMIT, or "
                       "analyse a snapshot (`w2s snapshot`)") from None
    except duckdb.Error as exc:
        raise SqlError(f"the query failed: {_first_line(exc)}") from None
    finally:
        timer.cancel()
        try:
            cur.execute("ROLLBACK")
        except duckdb.Error:
            pass
        cur.close()
    names = _unique(table.column_names)
    return table.rename_columns(names).slice(0, limit), table.num_rows > limit


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(name if not count else f"{name}_{count}")
    return out


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:400]


def snapshot(store: Any, dest: str | Path) -> Path:
    """Copy the whole database to `dest` (a new DuckDB file) as of one moment, while the engine keeps writing."""
    dest = Path(dest)
    if dest.exists():
        raise SqlError(f"{dest} already exists; pick a new file name")
    dest.parent.mkdir(parents=True, exist_ok=True)
    alias = f"snap_{uuid.uuid4().hex[:8]}"
    cur = store.con.cursor()
    try:
        database = cur.execute("SELECT current_database()").fetchone()[0]
        cur.execute(f"ATTACH '{_quoted(dest)}' AS {alias}")
        try:
            # One statement, one transaction: the copy sees the database as of its start while writers go on.
            cur.execute(f'COPY FROM DATABASE "{database}" TO {alias}')
        finally:
            cur.execute(f"DETACH {alias}")
    finally:
        cur.close()
    return dest


def _quoted(path: Path) -> str:
    return str(path.resolve()).replace("'", "''")
