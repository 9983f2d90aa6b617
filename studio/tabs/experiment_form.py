"""The Experiment tab's form: its widgets in one fixed order and the conversions config <-> widget values.

    ef = ExperimentForm(registry)        # the widgets are created by studio.tabs.experiment.build
    config, problem = ef.config(values)  # widget values -> the experiment config the CLI runs (and a studio problem)
    values = ef.fill(config)             # a loaded YAML or preset -> widget values (every field: nothing carries over)
    ef.annotate(message, values)         # updates that put the engine's message beside the fields it names

Pure parts (seeds, YAML, the equivalent command) are functions here too, testable without a server.
"""

from __future__ import annotations

import re
from typing import Any

import gradio as gr
import yaml

from studio.common import notice
from studio.forms import Form
from studio.tabs.experiment_values import model_names, one_or_list, parse_seeds

HANDLED = ("name", "task", "weak", "strong", "methods", "seeds", "train", "settings")  # own widgets
HELP = {
    "task": "What the models learn to classify.",
    "weak": "Weak supervisor(s): zoo name, hub id or local folder; several make a grid.",
    "strong": "Strong student(s): zoo name, hub id or folder; several make a grid.",
    "methods": "Several methods = a sweep (one run each).",
    "seeds": "One run per seed and method, e.g. 0, 1, 2 or 0-4.",
}


def to_yaml(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None, allow_unicode=True)


def file_stem(config: dict[str, Any]) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(config.get("name") or "experiment")).strip("-") or "experiment"


def cli_line(config: dict[str, Any]) -> str:
    """The same experiment from a shell: `w2s submit` to this studio's engine (which holds the database, so
    `w2s run` would refuse while it runs)."""
    name = file_stem(config)
    return (f"# the same experiment from a shell: save the YAML above as {name}.yaml, then\n"
            f"w2s submit {name}.yaml --wait     # queued on this studio's engine\n"
            f"# with no engine running: w2s run {name}.yaml")


def notes_html(reply: dict[str, Any]) -> str:
    """What the engine noticed while loading the data (rows skipped, labels mapped), one line each."""
    return "".join(notice(f"Note: {n}", "info") for n in reply.get("notes") or [])


def guess_column(columns: list[str], wanted: tuple[str, ...], exclude: str | None = None) -> str | None:
    lowered = {c.lower(): c for c in columns if c != exclude}
    for w in wanted:
        if w in lowered:
            return lowered[w]
    return next((c for c in columns if c != exclude), None)


def count_line(config: dict[str, Any], n: int | None = None) -> str:
    """'6 runs: world-xs → world-l · 2 methods × 3 seeds · world_size' (a weak x strong grid says how many pairs)."""
    m, s = len(config.get("methods") or []), len(config.get("seeds") or [])
    weaks, strongs = model_names(config.get("weak")), model_names(config.get("strong"))
    task = config.get("task")
    task = task.get("name") if isinstance(task, dict) else task
    grid = len(weaks) * len(strongs) > 1
    models = (f"{len(weaks)} weak × {len(strongs)} strong (pairs whose weak model is not smaller are skipped) · "
              if grid else f"{', '.join(weaks) or '?'} → {', '.join(strongs) or '?'} · ")
    total = f"{n} run{'s' if n != 1 else ''}" if n is not None else (
        f"up to {m * s * len(weaks) * len(strongs)} runs" if grid else f"{m * s} run{'s' if m * s != 1 else ''}")
    return (f'<div class="w2s-count"><b>{total}</b>: {models}{m} method{"s" if m != 1 else ""} × '
            f'{s} seed{"s" if s != 1 else ""} · {task}</div>')


class ExperimentForm:
    """All widgets of the tab in one fixed order, and the conversions config <-> widget values."""

    name: Any
    task: Any
    weak: Any
    strong: Any
    method_pick: Any
    seeds: Any
    tags: Any

    def __init__(self, registry: dict[str, Any], max_seeds: int | None = None):
        self.registry = registry
        self.max_seeds = max_seeds or 1000
        self.tasks = [t["name"] for t in registry["tasks"]]
        self.methods = [m["name"] for m in registry["methods"]]
        self.models = [m["name"] for m in registry["models"]]
        self.task_forms: dict[str, Form] = {}
        self.task_groups: dict[str, gr.Group] = {}
        self.method_forms: dict[str, Form] = {}
        self.method_groups: dict[str, gr.Accordion] = {}
        self.train_form: Form | None = None
        self.extra_form: Form | None = None
        self.sections: dict[Form, Any] = {}  # the accordion each form sits in: opened when an error names a field

    # The fixed order of inputs: name, task, weak, strong, methods, seeds, tags, task forms..., method forms...,
    # train form, extra form.
    def inputs(self) -> list[Any]:
        head = [self.name, self.task, self.weak, self.strong, self.method_pick, self.seeds, self.tags]
        return head + [w for f in self.forms() for w in f.inputs]

    def forms(self) -> list[Form]:
        return [*self.task_forms.values(), *self.method_forms.values(), self.train_form, self.extra_form]

    def annotated(self) -> list[Any]:
        """Widgets that can show an error beside them, then the forms' accordions (the event outputs of
        `annotate`)."""
        return [self.task, self.weak, self.strong, self.method_pick, self.seeds] + [
            w for f in self.forms() for w in f.inputs] + [self.sections[f] for f in self.forms() if f in self.sections]

    def tags_of(self, values: list[Any]) -> str | None:
        return (values[6] or "").strip() or None

    def config(self, values: list[Any]) -> tuple[dict[str, Any], str | None]:
        """Widget values -> (experiment config, a studio-side problem or None)."""
        name, task, weak, strong, methods, seeds, _tags = values[:7]
        rest = list(values[7:])
        taken: dict[Form, list[Any]] = {}
        for f in self.forms():
            taken[f], rest = rest[:len(f.inputs)], rest[len(f.inputs):]
        problem = None
        config: dict[str, Any] = {"name": (name or "experiment").strip()}
        task_settings = self.task_forms[task].read(taken[self.task_forms[task]]) if task in self.task_forms else {}
        config["task"] = {"name": task, **task_settings} if task_settings else task
        config["weak"], config["strong"] = one_or_list(model_names(weak)), one_or_list(model_names(strong))
        config["methods"] = list(methods or [])
        parsed = parse_seeds(seeds, self.max_seeds)
        if isinstance(parsed, str):
            problem, parsed = parsed, [0]
        config["seeds"] = parsed
        train = self.train_form.read(taken[self.train_form])
        if train:
            config["train"] = train
        settings = {m: self.method_forms[m].read(taken[self.method_forms[m]]) for m in config["methods"]
                    if m in self.method_forms}
        settings = {m: s for m, s in settings.items() if s}
        if settings:
            config["settings"] = settings
        config.update(self.extra_form.read(taken[self.extra_form]))
        if not config["methods"]:
            problem = problem or "methods: pick at least one method"
        return config, problem

    def fill(self, config: dict[str, Any]) -> list[Any]:
        """A config (a preset or a loaded YAML the engine accepted) -> widget values in `inputs` order. Every
        widget gets a value (the config's or its default), so nothing carries over from the previous config."""
        config = dict(config or {})
        for single, plural in (("method", "methods"), ("seed", "seeds")):
            if single in config and plural not in config:
                value = config.pop(single)
                config[plural] = value if isinstance(value, list) else [value]
        task = config.get("task", self.tasks[0] if self.tasks else "")
        task_settings: dict[str, Any] = {}
        if isinstance(task, dict):
            task_settings = {k: v for k, v in task.items() if k != "name"}
            task = task.get("name", "")
        methods = config.get("methods") or []
        methods = methods if isinstance(methods, list) else [methods]
        seeds = config.get("seeds", [0])
        seeds = seeds if isinstance(seeds, list) else [seeds]
        values = [config.get("name", "experiment"), task, model_names(config.get("weak")),
                  model_names(config.get("strong")),
                  [m for m in methods if m in self.methods], ", ".join(map(str, seeds)), config.get("tags", "") or ""]
        settings = config.get("settings") or {}
        for name, form in self.task_forms.items():
            values += form.fill(task_settings if name == task else {})
        for name, form in self.method_forms.items():
            values += form.fill(settings.get(name, {}))
        values += self.train_form.fill(config.get("train") or {})
        values += self.extra_form.fill({k: v for k, v in config.items() if k not in HANDLED})
        return values

    def annotate(self, msg: str | None, values: list[Any] | None = None) -> list[Any]:
        """Updates showing `msg` beside the widgets it concerns, clearing older marks."""
        msg = msg or ""
        weak, strong = (model_names(values[2]), model_names(values[3])) if values else ([], [])

        def named(names: list[str]) -> bool:
            return any(f"'{n}'" in msg for n in names)

        def mark(hit: bool, info: str | None = None) -> Any:
            return gr.update(info=f"⚠ {msg}", elem_classes=["field-error"]) if hit else gr.update(
                info=info, elem_classes=[])

        out = [
            mark(msg.startswith("task") or "task '" in msg, HELP["task"]),
            mark(named(weak) or "weak x strong grid" in msg, HELP["weak"]),
            mark(named([n for n in strong if n not in weak]) or "weak x strong grid" in msg, HELP["strong"]),
            mark(msg.startswith("methods") or "method '" in msg, HELP["methods"]),
            mark(msg.startswith("seeds"), HELP["seeds"]),
        ]
        for f in self.forms():
            out += f.annotate(msg)
        # A field inside a closed accordion is not on the page: open the accordion the message points into.
        out += [gr.update(open=True) if f.mentioned(msg) else gr.skip() for f in self.forms() if f in self.sections]
        return out
