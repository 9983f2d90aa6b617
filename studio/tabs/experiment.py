"""Experiment tab: pick a task, models and methods, fill their generated settings forms, check and submit.

Every widget feeds one experiment config (the YAML the CLI runs); the summary, the YAML box, the equivalent
`w2s submit` line and Download YAML follow every change at once. Settings forms come from the engine's typed
field docs (studio/forms.py), so a new task, method or training setting needs no code here. A loaded YAML is
checked by the engine with the CLI's own parser first: an unknown key is refused with its message, beside its
field, instead of being dropped. Submitting a setup and seed that already ran asks first (or opens those runs).

    tab = build(source)          # inside a gr.Blocks; an ExperimentTab of named components and handlers
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import yaml

from studio.common import Handler, export_dir, notice
from studio.forms import Form
from studio.source import Source, message
from studio.tabs.experiment_form import (
    HANDLED,
    HELP,
    ExperimentForm,
    cli_line,
    count_line,
    file_stem,
    guess_column,
    notes_html,
    to_yaml,
)

UPLOAD_TYPES = [".csv", ".tsv", ".jsonl", ".json", ".parquet", ".pq", ".gz"]


@dataclass
class ExperimentTab:
    form: ExperimentForm
    preset: gr.Dropdown
    errors: gr.HTML
    summary: gr.HTML
    submitted: gr.HTML
    run_ids: gr.Textbox       # the runs to follow after a submit (new ones, or the existing ones the user opened)
    yaml: gr.Code
    cli: gr.Code
    download: gr.DownloadButton
    load_yaml: gr.UploadButton
    load_preset: Handler      # preset label -> every input and the error box
    show_config: Handler      # inputs -> YAML, command, download, summary, studio-side problem


def build(source: Source) -> ExperimentTab:
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
                                     info="Fill the form from a ready-made experiment.", scale=3, elem_id="exp-preset")
                ef.name = gr.Textbox(value=default.get("name", "experiment"), label="Name", scale=2,
                                     info="Stored with every run of this experiment.", elem_id="exp-name")
            with gr.Group():
                ef.task = gr.Dropdown([(f"{n}", n) for n in tasks], value=None, label="Task", info=HELP["task"],
                                      elem_id="exp-task")
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
                ef.task_groups[name] = ef.sections[ef.task_forms[name]] = group
            with gr.Row():
                ef.weak = gr.Dropdown(model_choices, value=[], label="Weak supervisor", allow_custom_value=not public,
                                      multiselect=True, info=HELP["weak"], elem_id="exp-weak")
                ef.strong = gr.Dropdown(model_choices, value=[], label="Strong student", allow_custom_value=not public,
                                        multiselect=True, info=HELP["strong"], elem_id="exp-strong")
            with gr.Row():
                ef.method_pick = gr.CheckboxGroup(list(methods), value=[], label="Methods", scale=3,
                                                  info=HELP["methods"], elem_id="exp-methods")
                ef.seeds = gr.Textbox("0", label="Seeds", scale=1, max_lines=1, info=HELP["seeds"],
                                      elem_id="exp-seeds")
            method_help = gr.Markdown(elem_classes=["w2s-help"])
            for name, entry in methods.items():
                with gr.Accordion(f"{name} settings", open=False, visible=False) as acc:
                    ef.method_forms[name] = Form.build(entry.get("fields") or [], prefix=f"method-{name}",
                                                       where=f"settings.{name}")
                    if not entry.get("fields"):
                        gr.Markdown("This method has no settings.", elem_classes=["w2s-help"])
                ef.method_groups[name] = ef.sections[ef.method_forms[name]] = acc
            with gr.Accordion("Training settings (every stage)", open=False, elem_id="exp-train") as train_acc:
                ef.train_form = Form.build(registry.get("train") or [], prefix="train", where="train",
                                           skip=("trust_remote_code",) if public else ())
            extra_fields = [f for f in registry.get("experiment") or [] if f["name"] not in HANDLED]
            with gr.Accordion("Data and PGR settings", open=False) as extra_acc:
                ef.extra_form = Form.build(extra_fields, prefix="exp", where="config")
            ef.sections[ef.train_form], ef.sections[ef.extra_form] = train_acc, extra_acc
            ef.tags = gr.Textbox(label="Tags", placeholder="e.g. baseline, lr-sweep", max_lines=1,
                                 info="Free text stored with each run; filter by it in the Runs tab.")

        with gr.Column(scale=2, min_width=360, elem_classes=["w2s-side"]):
            summary = gr.HTML(elem_classes=["w2s-summary"], elem_id="exp-summary")
            errors = gr.HTML(elem_id="exp-errors")
            with gr.Row():
                check_btn = gr.Button("Check", variant="secondary", elem_id="exp-check")
                submit_btn = gr.Button("Submit", variant="primary", elem_id="exp-submit")
            with gr.Group(visible=False, elem_id="exp-duplicates") as dup_box:
                dup_note = gr.HTML()
                with gr.Row():
                    again_btn = gr.Button("Run them again", size="sm", elem_id="exp-dup-again")
                    skip_btn = gr.Button("Queue only the new ones", size="sm", elem_id="exp-dup-skip")
                    open_btn = gr.Button("Open the existing runs", size="sm", variant="primary",
                                         elem_id="exp-dup-open")
            dup_ids = gr.State([])
            submitted = gr.HTML(elem_id="exp-submitted")
            run_ids = gr.Textbox(visible=False, label="submitted run ids")
            yaml_box = gr.Code(language="yaml", label="Experiment config (YAML)", interactive=False, lines=12,
                               elem_id="exp-yaml")
            cli_box = gr.Code(language="shell", label="Equivalent command", interactive=False, lines=3,
                              elem_id="exp-cli")
            with gr.Row():
                download = gr.DownloadButton("Download YAML", value=None, size="sm", elem_id="exp-download")
                load_btn = gr.UploadButton("Load YAML", file_types=[".yaml", ".yml", ".json"], size="sm",
                                           elem_id="exp-load")

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
        path = export_dir() / f"{file_stem(config)}.yaml"
        path.write_text(text)
        return text, cli_line(config), str(path)

    def show_config(*values):
        """The live view of the form: YAML, command, the file Download YAML gives, the run count."""
        config, problem = ef.config(list(values))
        text, cli, path = render(config)
        return text, cli, path, count_line(config), notice(problem)

    def view_only(*values):
        """The live view without the message box: after a load whose message must stay on screen."""
        return show_config(*values)[:4]

    def check(*values):
        values = list(values)
        config, problem = ef.config(values)
        if problem:
            return [notice(problem), count_line(config), *ef.annotate(problem, values)]
        try:
            reply = source.validate(config)
        except Exception as exc:
            msg = message(exc)
            return [notice(msg), count_line(config), *ef.annotate(msg, values)]
        dups = reply.get("duplicates") or []
        ok = notice(f"Config is valid: {reply.get('runs')} run(s) ready to submit." + (
            f" {len(dups)} of them already exist ({', '.join(d['run_id'] for d in dups)}): Submit asks first."
            if dups else ""), "ok") + notes_html(reply)
        return [ok, count_line(config, reply.get("runs")), *ef.annotate(None, values)]

    def submit_as(mode: str):
        def fn(*values):
            values = list(values)
            hide = [gr.update(visible=False), "", []]
            config, problem = ef.config(values)
            if problem:
                return ["", "", notice(problem), *hide, *ef.annotate(problem, values)]
            try:
                reply = source.submit(config, tags=ef.tags_of(values), on_duplicate=mode)
            except Exception as exc:
                msg = message(exc)
                if getattr(exc, "status", None) == 409:  # the same setup and seed already ran: ask
                    dups = (source.validate(config, full=False).get("duplicates") or [])
                    ids = [d["run_id"] for d in dups]
                    listed = ", ".join(f"{d['run_id']} ({d['method']}, seed {d['seed']}, {d['status']})" for d in dups)
                    note = notice(f"{len(dups)} of these runs already exist with the same setup and seed: {listed}. "
                                  "Run them again (their medians then count each setup and seed once), queue only "
                                  "the runs that do not exist yet, or open the existing ones.", "warn")
                    return ["", "", "", gr.update(visible=True), note, ids, *ef.annotate(None, values)]
                return ["", "", notice(msg), *hide, *ef.annotate(msg, values)]
            ids = reply.get("run_ids") or []
            skipped = f" ({reply.get('skipped')} that already existed skipped)" if reply.get("skipped") else ""
            done = notice(f"Queued {len(ids)} run(s) as sweep {reply.get('sweep')}: {', '.join(ids)}{skipped}. "
                          "Follow them in the Runs tab." if ids else "Nothing queued: every run already exists.",
                          "ok") + notes_html(reply)
            return [done, ",".join(ids), "", *hide, *ef.annotate(None, values)]
        return fn

    def open_existing(ids: list[str]):
        return (notice(f"Opened the existing run(s): {', '.join(ids)}.", "info"), ",".join(ids or []),
                gr.update(visible=False))

    def load_preset(label: str):
        config = all_presets.get(label)
        if config is None:
            return [*ef.fill(default), notice(f"no preset named '{label}'")]
        return [*ef.fill(config), ""]

    def load_config(file: Any):
        """A YAML file into the form, after the engine accepted it (the CLI's parser: an unknown key is refused,
        never dropped); a refused file leaves the form as it was and says why, beside the field it names."""
        path = getattr(file, "name", file)
        keep = [gr.skip() for _ in inputs]
        try:
            config = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            return [*keep, notice(f"cannot read {Path(str(path)).name}: {exc}"), *[gr.skip() for _ in annotated]]
        if not isinstance(config, dict):
            return [*keep, notice("a config file must hold a mapping (key: value lines)"),
                    *[gr.skip() for _ in annotated]]
        try:
            source.validate(config, full=False)
        except Exception as exc:
            msg = message(exc)
            return [*keep, notice(f"{Path(str(path)).name} was not loaded: {msg}"), *ef.annotate(msg)]
        return [*ef.fill(config), "", *ef.annotate(None)]

    file_form = ef.task_forms.get("file")

    def upload_data(file: Any):
        """Send the file to the engine (where workers read it), show its first rows and guess the columns."""
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

    def copy_value(value):
        return value or ""

    # ---------------------------------------------------------------- wiring
    live = Handler(show_config, inputs, [yaml_box, cli_box, download, summary, errors])
    # Every edit re-renders the YAML, command, download and count (always_last: a burst of edits renders once).
    # Registered first so the endpoint keeps its name (later private events of the same function would take it).
    gr.on([w.input for w in inputs], show_config, inputs, live.outputs, api_name="show_config",
          trigger_mode="always_last")
    ef.task.change(on_task, ef.task, [task_help, upload_panel, *ef.task_groups.values()], api_visibility="private",
                   queue=False)
    ef.method_pick.change(on_methods, ef.method_pick, [method_help, *ef.method_groups.values()],
                          api_visibility="private", queue=False)
    preset.input(load_preset, preset, [*inputs, errors], api_name="load_preset").then(
        show_config, inputs, live.outputs, api_visibility="private")
    load_btn.upload(load_config, load_btn, [*inputs, errors, *annotated], api_name="load_config").then(
        view_only, inputs, live.outputs[:4], api_visibility="private")
    check_btn.click(check, inputs, [errors, summary, *annotated], api_name="check")
    submit_out = [submitted, run_ids, errors, dup_box, dup_note, dup_ids, *annotated]
    submit_btn.click(submit_as("refuse"), inputs, submit_out, api_name="submit", concurrency_limit=1)
    again_btn.click(submit_as("create"), inputs, submit_out, api_name="submit_again", concurrency_limit=1)
    skip_btn.click(submit_as("skip"), inputs, submit_out, api_name="submit_new_only", concurrency_limit=1)
    open_btn.click(open_existing, dup_ids, [submitted, run_ids, dup_box], api_visibility="private")
    if file_form is not None:
        upload.upload(upload_data, upload,
                      [text_col, label_col, pair_col, ef.task, *file_form.inputs, preview, errors],
                      api_name="upload_data").then(view_only, inputs, live.outputs[:4], api_visibility="private")
        for widget, field_name in ((text_col, "text_column"), (label_col, "label_column"),
                                   (pair_col, "text_pair_column")):
            widget.input(copy_value, widget, file_form.widgets[field_name], api_visibility="private",
                         queue=False).then(show_config, inputs, live.outputs, api_visibility="private")

    return ExperimentTab(form=ef, preset=preset, errors=errors, summary=summary, submitted=submitted,
                         run_ids=run_ids, yaml=yaml_box, cli=cli_box, download=download, load_yaml=load_btn,
                         load_preset=Handler(load_preset, [preset], [*inputs, errors]), show_config=live)
