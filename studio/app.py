"""The studio's Gradio app: assembles the tabs and links them; every tab lives in its own module.

    from engine.client import ensure_engine
    from studio.app import build_app, launch_options
    demo = build_app(ensure_engine())
    demo.launch(**launch_options())

`w2s studio` (studio.launch) does exactly this. The studio reaches the engine only through engine.client, so it
imports neither torch nor duckdb and starts in seconds. URLs take `?tab=runs|results|inspector` and
`?run=<id>` to open a tab on a given run (shareable links, screenshots). Against an engine in public mode the
app acts for one visitor per browser (studio.session) and gains the owner's login panel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from studio import common
from studio.common import esc
from studio.session import Visitors, owner_panel
from studio.source import Source
from studio.tabs import experiment, inspector, results, runs

CSS = Path(__file__).resolve().parent / "static" / "studio.css"
TABS = {"experiment": "Experiment", "runs": "Runs", "results": "Results", "inspector": "Inspector"}


def theme() -> gr.themes.Base:
    return gr.themes.Base(primary_hue="blue", secondary_hue="sky", neutral_hue="slate", radius_size="md",
                          spacing_size="md", text_size="md").set(
        body_background_fill="#f6f7f9", block_border_width="1px", block_shadow="none",
        button_primary_background_fill="#0b5cad", button_primary_background_fill_hover="#094c8f",
        button_primary_text_color="white")


def launch_options(policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """What `demo.launch` needs besides host and port: theme and CSS (Gradio 6 takes them here), and in public mode
    Gradio's own upload limit, the engine's (W2S_MAX_UPLOAD_MB), so a large file stops before it is stored."""
    options = {"theme": theme(), "css_paths": [CSS] if CSS.exists() else None, "footer_links": ["api", "settings"]}
    mb = ((policy or {}).get("limits") or {}).get("max_upload_mb")
    if (policy or {}).get("public") and mb:
        options["max_file_size"] = f"{float(mb):g}mb"
    return options


def header(source: Source) -> str:
    try:
        h = source.client.health()
        gpus = ", ".join(h.gpus) if h.gpus else "CPU only"
        engine = (f"engine {esc(h.url)} · {h.workers} worker slot{'s' if h.workers != 1 else ''} · {esc(gpus)} · "
                  f"{len(h.running)} running, {h.queued} queued")
    except Exception as exc:  # the header must never stop the app from starting
        engine = f"engine unreachable: {esc(exc)}"
    return ('<div class="w2s-header"><div class="w2s-title">Weak-to-Strong Studio</div>'
            '<div class="w2s-tagline">Train a strong student on a weak supervisor’s labels, then see example by '
            'example where it beats, copies or fools its supervisor.</div>'
            f'<div class="w2s-engine">{engine}</div></div>')


def build_app(client: Any) -> gr.Blocks:
    source = client if isinstance(client, Source) else Source(client)
    policy = source.policy()
    common.EXPORT_HOURS = float(policy.get("export_hours") or common.EXPORT_HOURS)
    visitors = Visitors(source._client) if policy.get("public") else None
    if visitors is not None:
        source.visitor = visitors.token
    # Gradio's own copies of uploads and downloads expire like the engine's (W2S_EXPORT_HOURS), checked hourly.
    age = int(3600 * common.EXPORT_HOURS)
    with gr.Blocks(title="Weak-to-Strong Studio", fill_width=True,
                   delete_cache=(min(3600, age), age) if policy.get("public") else None) as demo:
        head = gr.HTML(header(source))
        if visitors is not None:
            state = visitors.browser_state()
            who = gr.HTML(elem_id="w2s-who")
            owner_panel(visitors, source, state, who, bool(policy.get("owner_login")))
        with gr.Tabs(selected="experiment", elem_id="w2s-tabs") as tabs:
            with gr.Tab(TABS["experiment"], id="experiment") as tab_exp:
                exp = experiment.build(source)
            with gr.Tab(TABS["runs"], id="runs") as tab_runs:
                run = runs.build(source)
            with gr.Tab(TABS["results"], id="results") as tab_res:
                res = results.build(source)
            with gr.Tab(TABS["inspector"], id="inspector") as tab_ins:
                ins = inspector.build(source)

        # ------------------------------------------------------------ page load: tab and run from the URL
        def on_load(request: gr.Request):
            params = dict(request.query_params) if request is not None else {}
            tab = params.get("tab", "experiment")
            run_id = params.get("run", "")
            res_choices = res["_choices"]()
            ins_choices, other_choices = ins["_choices"]()
            if not run_id:  # open the newest finished run, so Results and Inspector are never blank
                done = source.runs(status="done")
                run_id = str(done["id"].iloc[0]) if not done.empty else ""
            value = run_id or None
            return (gr.Tabs(selected=tab if tab in TABS else "experiment"), {**res_choices, "value": value},
                    {**ins_choices, "value": value}, other_choices, gr.update(value=value))

        # Public mode: the visitor's identity first, every other load event after it (they read that visitor's runs).
        first = demo.load(visitors.on_load, state, [state, who], api_visibility="private") if visitors else None
        load = first.then if first is not None else demo.load
        load(on_load, None, [tabs, res["run"], ins["run"], ins["other"], run["run"]], api_visibility="private")
        load(exp["_load_preset"], exp["_preset_default"], [*exp["_inputs"], exp["errors"]],
             api_visibility="private").then(exp["_show_config"], exp["_inputs"], exp["_show_out"],
                                            api_visibility="private")
        load(run["_runs_table"], run["_filters"], run["_table_out"], api_visibility="private")
        load(res["_compare"], res["_cmp_in"], res["_cmp_out"], api_visibility="private").then(
            res["_ds_gap"], res["_ds_in"], res["_ds_out"], api_visibility="private")

        # ------------------------------------------------------------ links between tabs
        def follow(ids: str):
            """After a submit: follow the first new run in the Runs tab, polling fast."""
            first = (ids or "").split(",")[0].strip()
            return (gr.update(value=first) if first else gr.skip()), gr.Timer(active=bool(first))

        exp["run_ids"].change(follow, exp["run_ids"], [run["run"], run["fast"]], api_visibility="private").then(
            run["_runs_table"], run["_filters"], run["_table_out"], api_visibility="private")
        tab_runs.select(run["_runs_table"], run["_filters"], run["_table_out"], api_visibility="private")
        tab_res.select(res["_choices"], None, res["run"], api_visibility="private")
        tab_ins.select(ins["_choices"], None, [ins["run"], ins["other"]], api_visibility="private")
        tab_exp.select(lambda: header(source), None, head, api_visibility="private", queue=False)

        def open_in(choice: str):
            return (choice or gr.skip()), (choice or gr.skip())

        run["run"].input(open_in, run["run"], [res["run"], ins["run"]], api_visibility="private", queue=False)
        def open_row(evt: gr.SelectData):
            return open_in(evt.row_value[0] if evt.row_value else "")

        run["table"].select(open_row, None, [res["run"], ins["run"]], api_visibility="private", queue=False)
    return demo
