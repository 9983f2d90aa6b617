"""What forms and setups are made of: each config field's typed description (field_kind, field_docs: docs tables,
the CLI and studio forms read them) and a run's setup identity (config_key: the resolved config minus seed and
name). Pure functions of dataclasses and dicts, so the engine, the CLI and tests share them without a config."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

FIELD_KINDS = ("bool", "int", "float", "str", "choice", "list", "mapping", "any")


def field_kind(tp: Any) -> dict[str, Any]:
    """A typed description of a field's annotation, what forms are built from (no type strings to parse):
    {kind: bool|int|float|str|choice|list|mapping|any, optional, choices (choice), item (list: the items' kind)}."""
    optional = False
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        tp = args[0] if len(args) == 1 else Any
        origin = typing.get_origin(tp)
    out: dict[str, Any] = {"optional": optional}
    if origin is typing.Literal:
        return {**out, "kind": "choice", "choices": list(typing.get_args(tp))}
    if origin is list:
        (inner,) = typing.get_args(tp) or (str,)
        return {**out, "kind": "list", "item": field_kind(inner)["kind"]}
    if origin is dict or tp is dict:
        return {**out, "kind": "mapping"}
    simple = {bool: "bool", int: "int", float: "float", str: "str"}
    return {**out, "kind": simple.get(tp, "any")}


def field_docs(cls: type) -> list[dict[str, Any]]:
    """Each field of a config dataclass: name, typed description (field_kind), the type as written (for docs),
    default and help. Docs tables, the CLI and studio forms all read this."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        tp = hints[f.name]
        written = tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")
        rows.append({"name": f.name, **field_kind(tp), "type": written, "default": default,
                     "help": f.metadata.get("help", "")})
    return rows


# What a run's setup is not: the seed (runs of one setup differ by it) and the experiment's name (a label).
NOT_SETUP = ("seed", "name")


def config_key(spec: dict[str, Any]) -> str:
    """The identity of a run's setup: a hash of its full resolved config (RunSpec.to_dict(), as stored with the
    run) minus the seed and the name. Runs with one key and different seeds are seeds of one setup (aggregates
    pool them); two runs with one key and one seed are duplicates (aggregates count one)."""
    import hashlib

    body = {k: v for k, v in json.loads(json.dumps(spec, default=str)).items() if k not in NOT_SETUP}
    return hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]
