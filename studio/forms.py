"""Settings forms generated from config field docs: one widget per dataclass field, no per-method UI code.

    form = Form.build(fields, prefix="method-aux_conf", where="settings.aux_conf")
                                                    # fields: [{name, type, default, help}, ...] from the engine
    form.inputs                                     # the widgets, in field order (event inputs)
    form.read(values)                               # -> {name: value} of the settings that differ from defaults
    form.fill(settings)                             # -> widget values for a loaded config
    form.annotate(message)                          # -> updates that put an error message beside its field

The field list is what the engine's registry listing returns (engine.config.field_docs): the type is a
string such as "int", "float | None", "bool", "Literal['knn', 'logreg']" or "list[str]".
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import yaml


def _literal_choices(tp: str) -> list[Any] | None:
    """The values of "Literal['a', 'b']" (None when the type is not a Literal)."""
    match = re.search(r"Literal\[(.*)\]", tp)
    if not match:
        return None
    try:
        values = ast.literal_eval(f"[{match.group(1)}]")
    except (ValueError, SyntaxError):
        return None
    return list(values)


def kind_of(tp: str) -> str:
    """The widget family of a field type string: literal, bool, int, float, list, dict (a YAML mapping), or text."""
    tp = str(tp).replace("<class '", "").replace("'>", "")
    if _literal_choices(tp) is not None:
        return "literal"
    base = tp.replace(" | None", "").replace("Optional[", "").rstrip("]").strip()
    if base == "bool":
        return "bool"
    if base == "int":
        return "int"
    if base == "float":
        return "float"
    if base.startswith("list"):
        return "list"
    if base.startswith("dict"):
        return "dict"
    return "text"


def optional(tp: str) -> bool:
    return "None" in str(tp)


def _show(value: Any) -> str:
    if isinstance(value, dict):  # one line of YAML: {num_gpus: 1, memory: 16GB}
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False).strip() if value else ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


@dataclass(eq=False)  # widgets holder: identity semantics, usable as a dict key
class Form:
    """Widgets for one config dataclass, and the conversions between widget values and settings."""

    prefix: str
    fields: list[dict[str, Any]]
    where: str = ""  # how the engine's messages locate this form's settings: "settings.aux_conf", "train"
    widgets: dict[str, gr.components.Component] = field(default_factory=dict)

    @classmethod
    def build(cls, fields: list[dict[str, Any]], prefix: str, where: str = "", skip: tuple[str, ...] = ()) -> Form:
        """Create the widgets in the current Blocks context (two per row)."""
        form = cls(prefix, [f for f in fields if f["name"] not in skip], where)
        for i in range(0, len(form.fields), 2):
            with gr.Row(equal_height=False):
                for f in form.fields[i:i + 2]:
                    form.widgets[f["name"]] = widget(f, f"{prefix}-{f['name']}")
        return form

    @property
    def inputs(self) -> list[gr.components.Component]:
        return list(self.widgets.values())

    def read(self, values: list[Any], only_changed: bool = True) -> dict[str, Any]:
        """Settings from widget values (in `inputs` order): coerced to the field types; only the ones that
        differ from the defaults when `only_changed`, so a config stays short and says what was chosen."""
        out = {}
        for f, value in zip(self.fields, values, strict=True):
            value = coerce(f, value)
            if not only_changed or value != f.get("default"):
                out[f["name"]] = value
        return out

    def fill(self, settings: dict[str, Any] | None) -> list[Any]:
        """Widget values showing `settings` (defaults for the fields it leaves out)."""
        settings = settings or {}
        return [to_widget(f, settings.get(f["name"], f.get("default"))) for f in self.fields]

    def annotate(self, message: str | None) -> list[Any]:
        """Updates that show `message` beside each field it names (and restore the help text elsewhere)."""
        out = []
        for f in self.fields:
            if message and mentions(message, f["name"], self.where):
                out.append(gr.update(info=f"⚠ {message}", elem_classes=["field-error"]))
            else:
                out.append(gr.update(info=f.get("help") or None, elem_classes=[]))
        return out


def mentions(message: str, name: str, where: str = "") -> bool:
    """Does an engine message point at this field? Messages start with where the setting lives
    ("settings.aux_conf: aux_coef=2.0 must be in [0, 1]", "train.epochs: expected a number"), so a field
    is named when the message is about its form and holds the field's name as a word."""
    location = message.split(":", 1)[0].strip() if ":" in message else ""
    if where and not (location == where or location.startswith(where + ".")):
        return False
    return re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", message) is not None


def widget(f: dict[str, Any], elem_id: str) -> gr.components.Component:
    """The widget for one field: dropdown for a Literal, checkbox for bool, number for int/float, else text."""
    kind, tp, default = kind_of(f["type"]), str(f["type"]), f.get("default")
    common = dict(label=f["name"], info=f.get("help") or None, elem_id=elem_id, min_width=200)
    if kind == "literal":
        return gr.Dropdown(choices=_literal_choices(tp), value=default, **common)
    if kind == "bool":
        return gr.Checkbox(value=bool(default), **common)
    if kind in ("int", "float") and not optional(tp):
        return gr.Number(value=default, precision=0 if kind == "int" else None, **common)
    hints = {"list": "comma-separated", "dict": "{key: value, ...}"}
    placeholder = "empty = default" if optional(tp) else hints.get(kind)
    return gr.Textbox(value=_show(default), placeholder=placeholder, max_lines=1, **common)


def to_widget(f: dict[str, Any], value: Any) -> Any:
    kind, tp = kind_of(f["type"]), str(f["type"])
    if kind == "bool":
        return bool(value)
    if kind in ("int", "float") and not optional(tp) or kind == "literal":
        return value
    return _show(value)


def coerce(f: dict[str, Any], value: Any) -> Any:
    """A widget value as the field's type. Text that is not a number stays text, so the engine's
    validation (not the studio) names the problem; empty optional fields become None."""
    kind, tp = kind_of(f["type"]), str(f["type"])
    if isinstance(value, str):
        value = value.strip()
        if value == "" and (optional(tp) or kind in ("int", "float")):
            return None
    if value is None:
        return None
    if kind == "bool":
        return bool(value)
    if kind == "list":
        items = value if isinstance(value, list) else [v.strip() for v in str(value).split(",") if v.strip()]
        return items
    if kind == "dict":  # YAML mapping text; text that is not one goes on as is, for the engine to name
        try:
            parsed = yaml.safe_load(value) if isinstance(value, str) else value
        except yaml.YAMLError:
            return value
        return {} if parsed is None else parsed
    if kind in ("int", "float"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return value
        if kind == "int" and number == int(number):
            return int(number)
        return number
    return value
