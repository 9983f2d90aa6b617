"""Experiment tab: pick a task, models and methods, fill their generated settings forms, check and submit.

Every widget feeds one experiment config (the YAML the CLI runs); "Show config" prints it with the
equivalent `w2s run` line. Settings forms come from the engine's registry field docs (studio/forms.py),
so a new task or method needs no code here. Invalid settings come back as the engine's own message,
shown in the box beside the buttons and next to the field it names.

    parts = build(source)        # inside a gr.Blocks; returns the named components
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gradio as gr
import yaml

from studio.common import export_dir, notice
from studio.forms import Form
from studio.source import Source, message
from studio.tabs.experiment_values import model_names, one_or_list, parse_seeds

HANDLED = ("name", "task", "weak", "strong", "methods", "seeds", "train", "settings")  # own widgets
UPLOAD_TYPES = [".csv", ".tsv", ".jsonl", ".json", ".parquet", ".pq", ".gz"]


def to_yaml(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None, allow_unicode=True)


def cli_line(config: dict[str, Any]) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(config.get("name") or "experiment"))
    return f"# the same experiment headless: save the YAML above as {name}.yaml, then\nw2s run {name}.yaml"


def notes_html(reply: dict[str, Any]) -> str:
    """What the engine noticed while loading the data (rows skipped, labels mapped), one line each."""
    return "".join(notice(f"Note: {n}", "info") for n in reply.get("notes") or [])


def guess_column(columns: list[str], wanted: tuple[str, ...], exclude: str | None = None) -> str | None:
    lowered = {c.lower(): c for c in columns if c != exclude}
    for w in wanted:
        if w in lowered:
            return lowered[w]
    return next((c for c in columns if c != exclude), None)


class ExperimentForm:
    """All widgets of the tab in one fixed order, and the conversions config <-> widget values."""

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

    # The fixed order of inputs: name, task, weak, strong, methods, seeds, tags, task forms..., method forms...,
    # train form, extra form.
    def inputs(self) -> list[Any]:
        head = [self.name, self.task, self.weak, self.strong, self.method_pick, self.seeds, self.tags]
        return head + [w for f in self.forms() for w in f.inputs]

    def forms(self) -> list[Form]:
        return [*self.task_forms.values(), *self.method_forms.values(), self.train_form, self.extra_form]

    def annotated(self) -> list[Any]:
        """Widgets that can show an error beside them (the event outputs of `annotate`)."""
        return [self.task, self.weak, self.strong, self.method_pick, self.seeds] + [
            w for f in self.forms() for w in f.inputs]

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
        """A config (as loaded from YAML) -> widget values in `inputs` order; unknown keys are left to the
        engine's validation, which names them."""
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
                  [m for m in methods if m in self.methods], ", ".join(map(str, seeds)), config.get("tags", "")]
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
            mark(msg.startswith("task") or "task '" in msg, "What the models learn to classify."),
            mark(named(weak) or "weak x strong grid" in msg, "Weak supervisor(s): zoo name, hub id or local folder; "
                 "several make a grid."),
            mark(named([n for n in strong if n not in weak]) or "weak x strong grid" in msg,
                 "Strong student(s): zoo name, hub id or folder; several make a grid."),
            mark(msg.startswith("methods") or "method '" in msg, "Several methods = a sweep (one run each)."),
            mark(msg.startswith("seeds"), "One run per seed and method, e.g. 0, 1, 2 or 0-4."),
        ]
        for f in self.forms():
            out += f.annotate(msg)
        return out


def build(source: Source) -> dict[str, Any]:
    registry = source.registry()
    policy = source.policy()
    public = bool(policy.get("public"))  # public mode: catalogue models only, no remote code (the engine enforces it)
    ef = ExperimentForm(registry, (policy.get("limits") or {}).get("max_seeds"))
    all_presets = source.presets()
    tasks = {t["name"]: t for t in registry["tasks"]}
    methods = {m["name"]: m for m in registry["methods"]}
    model_choices = [(f"{m['name']}  ·  {m['description']}" if m.get("description") else m["name"], m["name"])
                     for m in sorted(registry["models"], key=lambda m: ((m.get("extra") or {}).get("kind") != "zoo",
                                                                         m["name"]))]
    default = all_presets[next(iter(all_presets))] if all_presets else {}

    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=420):
            with gr.Row():
                preset = gr.Dropdown(list(all_presets), value=next(iter(all_presets), None), label="Preset",
                                     info="Fill the form from a ready-made experiment.", scale=3)
                ef.name = gr.Textbox(value=default.get("name", "experiment"), label="Name", scale=2,
                                     info="Stored with every run of this experiment.")
            with gr.Group():
                ef.task = gr.Dropdown([(f"{n}", n) for n in tasks], value=None, label="Task",
                                      info="What the models learn to classify.", elem_id="exp-task")
                task_help = gr.Markdown(elem_classes=["w2s-help"])
            with gr.Group(visible=False) as upload_panel:
                gr.Markdown("**Your data**: a CSV, TSV, JSONL or Parquet file with a text column and a "
                            "two-valued label column.", elem_classes=["w2s-help"])
                with gr.Row():
                    upload = gr.File(label="Data file", file_types=UPLOAD_TYPES, height=120, scale=2)
                    with gr.Column(scale=3):
                        text_col = gr.Dropdown([], label="text column", allow_custom_value=True)
                        label_col = gr.Dropdown([], label="label column", allow_custom_value=True)
                        pair_col = gr.Dropdown([], label="second text column (optional)", allow_custom_value=True)
                preview = gr.Dataframe(label="First rows", interactive=False, max_height=220, visible=False,
                                       wrap=True)
            for name, entry in tasks.items():
                fields = entry.get("fields") or []
                with gr.Accordion(f"{name} settings", open=name == "file", visible=False) as group:
                    ef.task_forms[name] = Form.build(fields, prefix=f"task-{name}", where=f"task '{name}'")
                    if not fields:
                        gr.Markdown("This task has no settings.", elem_classes=["w2s-help"])
                ef.task_groups[name] = group
            with gr.Row():
                ef.weak = gr.Dropdown(model_choices, value=[], label="Weak supervisor", allow_custom_value=not public,
                                      multiselect=True, elem_id="exp-weak",
                                      info="Weak supervisor(s): zoo name, hub id or local folder; several make a grid.")
                ef.strong = gr.Dropdown(model_choices, value=[], label="Strong student", allow_custom_value=not public,
                                        multiselect=True, elem_id="exp-strong",
                                        info="Strong student(s): zoo name, hub id or folder; several make a grid.")
            with gr.Row():
                ef.method_pick = gr.CheckboxGroup(list(methods), value=[], label="Methods", scale=3,
                                                  info="Several methods = a sweep (one run each).")
                ef.seeds = gr.Textbox("0", label="Seeds", scale=1, max_lines=1,
                                      info="One run per seed and method, e.g. 0, 1, 2 or 0-4.")
            method_help = gr.Markdown(elem_classes=["w2s-help"])
            for name, entry in methods.items():
                with gr.Accordion(f"{name} settings", open=False, visible=False) as acc:
                    ef.method_forms[name] = Form.build(entry.get("fields") or [], prefix=f"method-{name}",
                                                       where=f"settings.{name}")
                    if not entry.get("fields"):
                        gr.Markdown("This method has no settings.", elem_classes=["w2s-help"])
                ef.method_groups[name] = acc
            with gr.Accordion("Training settings (every stage)", open=False):
                ef.train_form = Form.build(registry.get("train") or [], prefix="train", where="train",
                                           skip=("trust_remote_code",) if public else ())
            extra_fields = [f for f in registry.get("experiment") or [] if f["name"] not in HANDLED]
            with gr.Accordion("Data and PGR settings", open=False):
                ef.extra_form = Form.build(extra_fields, prefix="exp", where="config")
            ef.tags = gr.Textbox(label="Tags", placeholder="e.g. baseline, lr-sweep", max_lines=1,
                                 info="Free text stored with each run; filter by it in the Runs tab.")

        with gr.Column(scale=2, min_width=360, elem_classes=["w2s-side"]):
            summary = gr.HTML(elem_classes=["w2s-summary"])
            errors = gr.HTML(elem_id="exp-errors")
            with gr.Row():
                check_btn = gr.Button("Check", variant="secondary")
                submit_btn = gr.Button("Submit", variant="primary", elem_id="exp-submit")
            submitted = gr.HTML()
            run_ids = gr.Textbox(visible=False, label="submitted run ids")
            show_btn = gr.Button("Show config", size="sm")
            yaml_box = gr.Code(language="yaml", label="Experiment config (YAML)", interactive=False, lines=12)
            cli_box = gr.Code(language="shell", label="Equivalent command", interactive=False, lines=2)
            with gr.Row():
                download = gr.DownloadButton("Download YAML", value=None, size="sm")
                load_btn = gr.UploadButton("Load YAML", file_types=[".yaml", ".yml", ".json"], size="sm")

    inputs = ef.inputs()
    annotated = ef.annotated()

    # ---------------------------------------------------------------- handlers
    def on_task(task: str):
        entry = tasks.get(task) or {}
        groups = [gr.update(visible=name == task and bool(tasks[name].get("fields")) and name != "file")
                  for name in ef.task_groups]
        if "file" in ef.task_groups:  # the file task's fields sit under the upload panel, open
            groups[list(ef.task_groups).index("file")] = gr.update(visible=task == "file")
        return [entry.get("description", ""), gr.update(visible=task == "file"), *groups]

    def on_methods(picked: list[str]):
        picked = picked or []
        text = "\n".join(f"- **{m}**: {' '.join((methods[m].get('description') or '').split())}" for m in picked
                         if m in methods)
        return [text, *[gr.update(visible=name in picked and bool(methods[name].get("fields")))
                        for name in ef.method_groups]]

    def render(config: dict[str, Any]) -> tuple[str, str, str]:
        text = to_yaml(config)
        path = export_dir() / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', config.get('name') or 'experiment')}.yaml"
        path.write_text(text)
        return text, cli_line(config), str(path)

    def count_line(config: dict[str, Any], n: int | None = None) -> str:
        m, s = len(config.get("methods") or []), len(config.get("seeds") or [])
        weaks, strongs = model_names(config.get("weak")), model_names(config.get("strong"))
        task = config.get("task")
        task = task if isinstance(task, str) else task["name"]
        grid = len(weaks) * len(strongs) > 1
        models = (f"{len(weaks)} weak × {len(strongs)} strong (pairs whose weak model is not smaller are skipped) · "
                  if grid else f"{', '.join(weaks) or '?'} → {', '.join(strongs) or '?'} · ")
        total = f"{n} run{'s' if n != 1 else ''}" if n is not None else (
            f"up to {m * s * len(weaks) * len(strongs)} runs" if grid else f"{m * s} run{'s' if m * s != 1 else ''}")
        return (f'<div class="w2s-count"><b>{total}</b>: {models}{m} method{"s" if m != 1 else ""} × '
                f'{s} seed{"s" if s != 1 else ""} · {task}</div>')

    def show_config(*values):
        config, problem = ef.config(list(values))
        text, cli, path = render(config)
        return text, cli, path, count_line(config), notice(problem)

    def check(*values):
        values = list(values)
        config, problem = ef.config(values)
        text, cli, path = render(config)
        if problem:
            return [notice(problem), count_line(config), text, cli, path, *ef.annotate(problem, values)]
        try:
            reply = source.validate(config)
        except Exception as exc:
            msg = message(exc)
            return [notice(msg), count_line(config), text, cli, path, *ef.annotate(msg, values)]
        ok = notice(f"Config is valid: {reply.get('runs')} run(s) ready to submit.", "ok") + notes_html(reply)
        return [ok, count_line(config, reply.get("runs")), text, cli, path, *ef.annotate(None, values)]

    def submit(*values):
        values = list(values)
        config, problem = ef.config(values)
        text, cli, path = render(config)
        tags = (values[6] or "").strip() or None
        if problem:
            return ["", "", notice(problem), text, cli, path, *ef.annotate(problem, values)]
        try:
            reply = source.submit(config, tags=tags)
        except Exception as exc:
            msg = message(exc)
            return ["", "", notice(msg), text, cli, path, *ef.annotate(msg, values)]
        ids = reply.get("run_ids") or []
        done = notice(f"Queued {len(ids)} run(s) as sweep {reply.get('sweep')}: {', '.join(ids)}. "
                      "Follow them in the Runs tab.", "ok") + notes_html(reply)
        return [done, ",".join(ids), "", text, cli, path, *ef.annotate(None, values)]

    def load_preset(label: str):
        config = all_presets.get(label)
        if config is None:
            return [*ef.fill(default), notice(f"no preset named '{label}'")]
        return [*ef.fill(config), ""]

    def load_config(file: Any):
        path = getattr(file, "name", file)
        try:
            config = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            return [*[gr.skip() for _ in inputs], notice(f"cannot read {Path(str(path)).name}: {exc}")]
        if not isinstance(config, dict):
            return [*[gr.skip() for _ in inputs], notice("a config file must hold a mapping (key: value lines)")]
        return [*ef.fill(config), ""]

    file_form = ef.task_forms.get("file")

    def upload_data(file: Any):
        """Keep the file where workers can read it, show its first rows and guess the columns."""
        n_out = 4 + (len(file_form.inputs) if file_form else 0)
        if not file:
            return [gr.skip()] * (n_out + 2)
        src = Path(getattr(file, "name", file))
        try:
            stored = source.upload(str(src))
        except Exception as exc:  # the engine's one-line message (unreadable file, wrong type, too large)
            # Clear the previous file's path and columns: Check and Submit must not go on with the old file.
            cleared = file_form.fill({"path": "", "text_column": "text", "label_column": "label"}) if file_form else []
            return [gr.update(choices=[], value=None), gr.update(choices=[], value=None),
                    gr.update(choices=[], value=None), "file", *cleared, gr.update(value=None, visible=False),
                    notice(f"{message(exc)} (the file was not stored; the form has no data file now)")]
        df, columns, dest = stored["preview"], stored["columns"], stored["path"]
        problem = None
        if len(columns) < 2:
            problem = f"{src.name} has {len(columns)} column(s): {', '.join(columns)}; it needs a text and a label column"
        text_guess = guess_column(columns, ("text", "sentence", "review", "content", "question", "prompt"))
        label_guess = guess_column(columns, ("label", "labels", "target", "class", "y", "sentiment"), text_guess)
        if not problem and label_guess is not None:
            n_values, values = stored["distinct"].get(label_guess, 0), stored["values"].get(label_guess, [])
            if n_values != 2:
                shown = ", ".join(map(str, values)) + (", ..." if n_values > len(values) else "")
                problem = (f"label column '{label_guess}' of {src.name} has {n_values} distinct values ({shown}); "
                           "a task needs exactly two. Pick another label column or fix the file")
        form_values = file_form.fill({"path": dest, "text_column": text_guess or "text",
                                      "label_column": label_guess or "label"}) if file_form else []
        return [gr.update(choices=columns, value=text_guess), gr.update(choices=columns, value=label_guess),
                gr.update(choices=["", *columns], value=""), "file", *form_values,
                gr.update(value=df.head(5), visible=True), notice(problem)]

    def set_field(name: str):
        def fn(value):
            return value or ""
        return fn

    # ---------------------------------------------------------------- wiring
    ef.task.change(on_task, ef.task, [task_help, upload_panel, *ef.task_groups.values()], api_visibility="private",
                   queue=False)
    ef.method_pick.change(on_methods, ef.method_pick, [method_help, *ef.method_groups.values()],
                          api_visibility="private", queue=False)
    preset.input(load_preset, preset, [*inputs, errors], api_name="load_preset")
    load_btn.upload(load_config, load_btn, [*inputs, errors], api_name="load_config")
    show_btn.click(show_config, inputs, [yaml_box, cli_box, download, summary, errors], api_name="show_config")
    check_btn.click(check, inputs, [errors, summary, yaml_box, cli_box, download, *annotated], api_name="check")
    submit_btn.click(submit, inputs, [submitted, run_ids, errors, yaml_box, cli_box, download, *annotated],
                     api_name="submit", concurrency_limit=1)
    if file_form is not None:
        upload.upload(upload_data, upload,
                      [text_col, label_col, pair_col, ef.task, *file_form.inputs, preview, errors],
                      api_name="upload_data")
        for widget, field_name in ((text_col, "text_column"), (label_col, "label_column"),
                                   (pair_col, "text_pair_column")):
            widget.input(set_field(field_name), widget, file_form.widgets[field_name], api_visibility="private",
                         queue=False)

    return {"preset": preset, "name": ef.name, "task": ef.task, "weak": ef.weak, "strong": ef.strong,
            "methods": ef.method_pick, "seeds": ef.seeds, "tags": ef.tags, "errors": errors, "summary": summary,
            "submit": submit_btn, "check": check_btn, "submitted": submitted, "run_ids": run_ids, "yaml": yaml_box,
            "cli": cli_box, "download": download, "load": load_btn, "upload": upload, "preview": preview,
            "_form": ef, "_load_preset": load_preset, "_inputs": inputs, "_preset_default": preset,
            "_show_config": show_config, "_show_out": [yaml_box, cli_box, download, summary, errors]}
