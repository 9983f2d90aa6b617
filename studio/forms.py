"""Settings forms generated from config field docs: one widget per dataclass field, no per-method UI code.

    form = Form.build(fields, prefix="method-aux_conf", where="settings.aux_conf")
                                                    # fields: the engine's typed field docs (engine.api.FieldDoc)
    form.inputs                                     # the widgets, in field order (event inputs)
    form.read(values)                               # -> {name: value} of the settings that differ from defaults
    form.fill(settings)                             # -> widget values for a loaded config
    form.annotate(message)                          # -> updates that put an error message beside its field

Each field arrives typed from the engine's registry (engine.config.field_docs): `kind` is bool, int, float, str,
choice (with `choices`), list (of `item`), mapping or any, and `optional` says whether empty means None. A new
setting in any config dataclass therefore shows up here without studio code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import yaml


def kind(f: dict[str, Any]) -> str:
    return str(f.get("kind") or "any")


def optional(f: dict[str, Any]) -> bool:
    return bool(f.get("optional"))


def _show(f: dict[str, Any], value: Any) -> str:
    if value is None:
        return ""
    if kind(f) in ("mapping", "any") and not isinstance(value, str):
        return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


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
        form = cls(prefix, [dict(f) for f in fields if f["name"] not in skip], where)
        for i in range(0, len(form.fields), 2):
            with gr.Row(equal_height=False):
                for f in form.fields[i:i + 2]:
                    form.widgets[f["name"]] = widget(f, f"{prefix}-{f['name']}")
        return form

    @property
    def inputs(self) -> list[gr.components.Component]:
        return list(self.widgets.values())

    def read(self, values: list[Any], only_changed: bool = True) -> dict[str, Any]:
        """Settings from widget values (in `inputs` order): coerced to the field kinds; only the ones that
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

    def mentioned(self, message: str | None) -> bool:
        """Does `message` name one of this form's fields?"""
        return bool(message) and any(mentions(message, f["name"], self.where) for f in self.fields)

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
    is named when the message is about its form and holds the field's name as a word. An unknown key names
    the close match it suggests ("did you mean 'epochs'?"), never the list of valid keys after it."""
    location = message.split(":", 1)[0].strip() if ":" in message else ""
    if where and not (location == where or location.startswith(where + ".")):
        return False
    if location == f"{where}.{name}":
        return True
    body = message.split(" valid keys:", 1)[0]
    if "unknown key" in body:
        suggested = re.search(r"did you mean '([^']+)'", body)
        return bool(suggested) and suggested.group(1) == name
    return re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", body) is not None


def widget(f: dict[str, Any], elem_id: str) -> gr.components.Component:
    """The widget for one field: dropdown for a choice, checkbox for bool, number for int/float, else text."""
    k, default = kind(f), f.get("default")
    common = dict(label=f["name"], info=f.get("help") or None, elem_id=elem_id, min_width=200)
    if k == "choice":
        return gr.Dropdown(choices=list(f.get("choices") or []), value=default, **common)
    if k == "bool":
        return gr.Checkbox(value=bool(default), **common)
    if k in ("int", "float") and not optional(f):
        return gr.Number(value=default, precision=0 if k == "int" else None, **common)
    placeholder = ("empty = default" if optional(f) else "comma-separated" if k == "list" else
                   "YAML, e.g. {key: value}" if k in ("mapping", "any") else None)
    return gr.Textbox(value=_show(f, default), placeholder=placeholder, max_lines=1, **common)


def to_widget(f: dict[str, Any], value: Any) -> Any:
    k = kind(f)
    if k == "bool":
        return bool(value)
    if k in ("int", "float") and not optional(f) or k == "choice":
        return value
    return _show(f, value)


def _number(text: Any, as_int: bool) -> Any:
    try:
        number = float(text)
    except (TypeError, ValueError):
        return text  # left as written: the engine's validation names the problem
    return int(number) if as_int and number == int(number) else number


def coerce(f: dict[str, Any], value: Any) -> Any:
    """A widget value as the field's kind. Text that is not a number stays text, so the engine's
    validation (not the studio) names the problem; empty optional fields become None."""
    k = kind(f)
    if isinstance(value, str):
        value = value.strip()
        if value == "" and (optional(f) or k in ("int", "float", "mapping", "any")):
            return None if optional(f) or k in ("int", "float") else f.get("default")
    if value is None:
        return None
    if k == "bool":
        return bool(value)
    if k == "list":
        items = value if isinstance(value, list) else [v.strip() for v in str(value).split(",") if v.strip()]
        return [_number(v, f.get("item") == "int") for v in items] if f.get("item") in ("int", "float") else items
    if k in ("int", "float"):
        return _number(value, k == "int")
    if k in ("mapping", "any") and isinstance(value, str):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value
