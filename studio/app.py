"""The studio's Gradio app: assembles the tabs and links them; every tab lives in its own module.

    from engine.client import ensure_engine
    from studio.app import build_app, launch_options
    demo = build_app(ensure_engine())
    demo.launch(**launch_options())

`w2s studio` (studio.launch) does exactly this. The studio reaches the engine only through engine.client, so it
imports neither torch nor duckdb and starts in seconds. URLs take `?tab=runs|results|inspector` and
`?run=<id>` to open a tab on a given run (shareable links, screenshots). Against an engine in public mode the
app acts for one visitor per browser (studio.session) and gains the owner's login panel.

Each tab's `build(source)` returns a small dataclass of named components and `Handler`s (studio.common), and this
module links them by name: a run picked in one tab becomes the current run, and a tab shows it when it is opened
(so a click on a run loads only what is on screen). A pulse (every 5 s, one health request) keeps the header's
running / queued counts live, wakes the Runs tab's fast poll when a run starts anywhere, and refreshes the
across-runs figures and the run pickers when a run finishes.
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
PULSE = 5.0


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


def header(source: Source, health: Any = None) -> str:
    try:
        h = health if health is not None else source.health()
        gpus = ", ".join(h.gpus) if h.gpus else "CPU only"
        engine = (f"engine {esc(h.url)} · {h.workers} worker slot{'s' if h.workers != 1 else ''} · {esc(gpus)} · "
                  f'<span class="w2s-live">{len(h.running)} running, {h.queued} queued</span> · stop it with '
                  "<code>w2s stop</code>")
    except Exception as exc:  # the header must never stop the app from starting
        engine = f"engine unreachable: {esc(exc)}"
    return ('<div class="w2s-header"><div class="w2s-title">Weak-to-Strong Studio</div>'
            '<div class="w2s-tagline">Train a strong student on a weak supervisor’s labels, then see example by '
            'example where it beats, copies or fools its supervisor.</div>'
            f'<div class="w2s-engine" id="w2s-engine">{engine}</div></div>')


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
        current = gr.State("")     # the run last picked in any tab: a tab shows it when opened
        activity = gr.State("")    # running ids and queued count: a change means a run started or finished
        pulse = gr.Timer(PULSE)
        opened = gr.State("")      # "results" once the Results tab was shown: its across-runs figures are drawn
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
            tab = tab if tab in TABS else "experiment"
            run_id = params.get("run", "")
            if not run_id:  # open the newest finished run, so Results and Inspector are never blank
                done = source.runs(status="done")
                run_id = str(done["id"].iloc[0]) if not done.empty else ""
            value = run_id or None
            # Only the visible tab loads the run now; the others when opened (they read `current`).
            return (gr.Tabs(selected=tab), run_id, gr.update(value=value),
                    gr.update(value=value) if tab == "results" else gr.skip(),
                    gr.update(value=value) if tab == "inspector" else gr.skip(), tab)

        def across_if(opened: str, *values):
            """The across-runs figures read every finished run's metrics: drawn once the Results tab is shown."""
            return res.across.fn(*values) if opened == "results" else [gr.skip()] * len(res.across.outputs)

        def trend_if(opened: str, *values):
            return res.deception_trend.fn(*values) if opened == "results" else [gr.skip(), gr.skip()]

        # Public mode: the visitor's identity first, every other load event after it (they read that visitor's runs).
        first = demo.load(visitors.on_load, state, [state, who], api_visibility="private") if visitors else None
        load = first.then if first is not None else demo.load
        load(on_load, None, [tabs, current, run.pick, res.pick, ins.pick, opened], api_visibility="private")
        exp.load_preset.on(load).then(exp.show_config.fn, exp.show_config.inputs, exp.show_config.outputs,
                                      api_visibility="private")
        run.refresh.on(load)
        res.choices.on(load)
        ins.choices.on(load)

        # ------------------------------------------------------------ the pulse: header, wake-ups, finished runs
        def beat(seen: str):
            try:
                h = source.health()
            except Exception:  # engine gone: say so in the header, keep the rest as it is
                return header(source), gr.skip(), gr.skip()
            now = f"{','.join(sorted(h.running))}|{h.queued}"
            busy = bool(h.running) or h.queued > 0
            return header(source, h), (gr.Timer(active=True) if busy else gr.skip()), (now if now != seen
                                                                                       else gr.skip())

        pulse.tick(beat, activity, [head, run.fast, activity], api_visibility="private", queue=False)
        changed = activity.change(res.choices.fn, None, res.choices.outputs, api_visibility="private")
        changed.then(ins.choices.fn, None, ins.choices.outputs, api_visibility="private").then(
            across_if, [opened, *res.across.inputs], res.across.outputs, api_visibility="private")

        # ------------------------------------------------------------ links between tabs
        def follow(ids: str):
            """After a submit (or opening existing runs): follow the first in the Runs tab, polling fast."""
            first = (ids or "").split(",")[0].strip()
            if not first:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return gr.update(value=first), first, gr.Timer(active=True), gr.Tabs(selected="runs")

        exp.run_ids.change(follow, exp.run_ids, [run.pick, current, run.fast, tabs], api_visibility="private").then(
            run.refresh.fn, run.refresh.inputs, run.refresh.outputs, api_visibility="private")
        tab_runs.select(run.refresh.fn, run.refresh.inputs, run.refresh.outputs, api_visibility="private")

        def remember(choice: str):
            return choice or gr.skip()

        def show_current(cur: str, mine: str):
            return cur if cur and cur != mine else gr.skip()

        def remember_row(evt: gr.SelectData):
            return (evt.row_value or [""])[0] or gr.skip()

        for pick in (run.pick, res.pick, ins.pick):
            pick.input(remember, pick, current, api_visibility="private", queue=False)
        run.table.select(remember_row, None, current, api_visibility="private", queue=False)
        tab_res.select(show_current, [current, res.pick], res.pick, api_visibility="private", queue=False)
        tab_res.select(lambda: "results", None, opened, api_visibility="private", queue=False)
        opened.change(across_if, [opened, *res.across.inputs], res.across.outputs, api_visibility="private").then(
            trend_if, [opened, *res.deception_trend.inputs], res.deception_trend.outputs, api_visibility="private")
        tab_ins.select(show_current, [current, ins.pick], ins.pick, api_visibility="private", queue=False)
        tab_exp.select(lambda: header(source), None, head, api_visibility="private", queue=False)
    return demo
