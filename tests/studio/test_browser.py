"""The studio in a real browser (headless Chromium driven by playwright): each tab settles, and every view that
was wrong in a browser is right: a running run can be picked and stopped while a sweep trains, the header's
counts follow the engine without a tab switch, the deep link
opens its run, a preset change reaches the YAML and its download at once, a YAML with an unknown key is refused
as the CLI refuses it, and half B shows no predictions that do not exist. One studio and one browser per module.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import wait_until

playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright (requirements.txt)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install -y chromium); "
                                ".ci/run installs it")

# Idle: no visible component is loading (a hidden tab's status trackers do not count).
IDLE = ("() => Array.from(document.querySelectorAll('.pending, .generating, "
        "[data-testid=\"status-tracker\"]:not(.hide)')).filter(e => e.offsetParent !== null && "
        "e.getBoundingClientRect().height > 0).length === 0")
JOINS = "() => performance.getEntriesByType('resource').filter(e => e.name.includes('/queue/join')).length"


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(60_000)
    yield context.new_page()
    context.close()


def visit(page, url: str, ready: str) -> None:
    """Open `url` and wait until the CSS selector `ready` is on the page and nothing is loading."""
    page.goto(url)
    page.wait_for_selector(ready, state="attached")
    page.wait_for_function(IDLE)
    time.sleep(0.5)


def text_of(page, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def wait_text(page, selector: str, words: str, timeout: float = 60) -> str:
    wait_until(lambda: words in text_of(page, selector), timeout, f"'{words}' in {selector}")
    return text_of(page, selector)


def pick(page, dropdown: str, option: str) -> None:
    page.locator(f"{dropdown} input").click()
    page.get_by_role("option", name=option, exact=True).click()


@pytest.mark.parametrize("tab,ready", [("experiment", "#exp-yaml .cm-content"),
                                       ("runs", "#runs-table [role=gridcell]"), ("results", "#results-cards .w2s-card"),
                                       ("inspector", "#inspector-table [role=gridcell]")])
def test_each_tab_renders_and_settles(app, small_run, page, tab, ready):
    """Each tab loads, stops showing spinners, and then stays quiet: no event re-triggers itself in a loop."""
    visit(page, f"{app.url}/?tab={tab}&run={small_run}", ready)
    before = page.evaluate(JOINS)
    time.sleep(4)
    # A pulse tick or a late chained update may fire; an event that re-triggers itself fires ~4 per second.
    assert page.evaluate(JOINS) - before <= 3, f"{tab} keeps firing events"


@pytest.mark.slow  # end to end, ~20-40 s: runs in make test-slow
def test_a_running_run_can_be_picked_and_stopped_while_a_sweep_trains(app, page):
    sweep = app.engine.submit({"name": "long", "task": "world_size", "weak": "world-xs", "strong": "world-l",
                               "methods": ["naive"], "seeds": [0, 1, 2], "train": {"epochs": 40}})
    first = sweep.run_ids[0]
    try:
        wait_until(lambda: app.engine.run(first).status == "running", 120, "the first run to start")
        visit(page, f"{app.url}/?tab=runs", f"#runs-table [role=gridcell]:has-text('{first}')")
        page.locator("#runs-table [role=row]", has_text=first).locator("[role=gridcell]").first.click()
        wait_text(page, "#runs-title", first)
        time.sleep(6)  # four fast polls and a pulse: none may put the old pick back
        assert first in page.input_value("#runs-pick input")
        assert first in text_of(page, "#runs-title") and "running" in text_of(page, "#runs-title")
        stop = page.locator("#runs-stop")
        assert stop.is_enabled()
        stop.click()
        wait_until(lambda: app.engine.run(first).status == "cancelled", 60, "the run to be cancelled")
        wait_text(page, "#runs-action", f"Stopping run {first}")
    finally:
        for run_id in sweep.run_ids:
            if app.engine.run(run_id).status in ("queued", "running"):
                app.engine.cancel(run_id)
        app.engine.wait_for(sweep.run_ids, timeout=60)


@pytest.mark.slow  # end to end, ~20-40 s: runs in make test-slow
def test_the_header_counts_follow_the_engine_without_a_tab_switch(app, page):
    """The header's running / queued counts come from the pulse: a run started and stopped elsewhere (here by the
    engine client, as the CLI would) shows up and goes away while the page stays on one tab."""
    idle = "0 running, 0 queued"
    wait_until(lambda: not app.engine.health().running and not app.engine.health().queued, 60, "an idle engine")
    visit(page, f"{app.url}/?tab=inspector", "#w2s-engine")
    assert idle in text_of(page, "#w2s-engine")
    run_id = app.engine.submit({"name": "pulse", "task": "world_size", "weak": "world-xs", "strong": "world-l",
                                "methods": ["naive"], "train": {"epochs": 40}}).run_ids[0]
    try:
        wait_until(lambda: idle not in text_of(page, "#w2s-engine"), 20, "the header to show the new run")
    finally:
        app.engine.cancel(run_id)
        app.engine.wait_for([run_id], timeout=60)
    wait_until(lambda: idle in text_of(page, "#w2s-engine"), 20, "the header to show the engine idle again")


def test_the_deep_link_opens_its_run_with_the_buttons_it_allows(app, page):
    run_id = app.engine.submit({"task": "world_size", "weak": "world-xs", "strong": "world-s", "n_train": 100,
                                "n_test": 40, "name": "deep-link"}).run_ids[0]
    app.engine.cancel(run_id)
    app.engine.wait_for([run_id], timeout=60)
    visit(page, f"{app.url}/?tab=runs&run={run_id}", "#runs-title b")
    wait_text(page, "#runs-title", run_id)
    shown = page.input_value("#runs-pick input")
    assert run_id in shown and "object" not in shown
    assert "cancelled" in text_of(page, "#runs-title")
    assert page.locator("#runs-requeue").is_enabled() and not page.locator("#runs-stop").is_enabled()


def test_a_preset_change_reaches_the_yaml_and_its_download_at_once(app, page):
    visit(page, f"{app.url}/?tab=experiment", "#exp-yaml .cm-content")
    wait_text(page, "#exp-yaml", "world_size")
    pick(page, "#exp-preset", "preference (preference preset)")
    wait_text(page, "#exp-yaml", "world_pref")
    with page.expect_download() as download:
        page.locator("#exp-download").click()
    config = yaml.safe_load(Path(download.value.path()).read_text())
    preset = next(p.config for p in app.engine.presets() if p.label == "preference (preference preset)")
    for key in ("task", "weak", "strong", "methods"):
        assert config[key] == preset[key], key
    seeds = page.locator("#exp-seeds input, #exp-seeds textarea").first
    seeds.fill("")
    seeds.press_sequentially("0-2")  # typed, as a user does (fill() sets the value without Gradio's input event)
    wait_text(page, "#exp-summary", "3 seeds")
    with page.expect_download() as download:
        page.locator("#exp-download").click()
    assert yaml.safe_load(Path(download.value.path()).read_text())["seeds"] == [0, 1, 2]
    cli = text_of(page, "#exp-cli")
    assert "w2s submit" in cli  # this studio's engine holds the database: `w2s run` would refuse
    pick(page, "#exp-preset", "demo (offline)")  # back: the preference preset's settings do not carry over
    wait_text(page, "#exp-yaml", "world_size")
    assert "beta" not in text_of(page, "#exp-yaml") and "weak_dpo" not in text_of(page, "#exp-yaml")


def test_a_yaml_with_an_unknown_key_is_refused_as_the_cli_refuses_it(app, page, tmp_path):
    from engine.config import ConfigError, config_from_dict

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"task": "world_size", "weak": "world-xs", "strong": "world-s",
                                   "methods": ["naive"], "train": {"epoch": 5}}))
    with pytest.raises(ConfigError) as cli:  # what `w2s run bad.yaml` says
        config_from_dict(yaml.safe_load(bad.read_text())).expand()
    visit(page, f"{app.url}/?tab=experiment", "#exp-yaml .cm-content")
    wait_text(page, "#exp-yaml", "world-l")
    with page.expect_file_chooser() as chooser:
        page.locator("#exp-load").click()
    chooser.value.set_files(str(bad))
    shown = wait_text(page, "#exp-errors", "unknown key 'epoch'")
    assert str(cli.value) in shown and "was not loaded" in shown
    assert page.locator("#train-epochs.field-error").count() == 1  # beside the field it meant
    assert page.locator("#train-batch_size.field-error").count() == 0
    shown = text_of(page, "#exp-yaml")
    assert "world-l" in shown and "epochs: 10.0" in shown and "epoch: 5" not in shown  # the demo form, unchanged


@pytest.mark.slow  # end to end, ~20-40 s: runs in make test-slow
def test_half_b_shows_no_prediction_that_does_not_exist(app, small_run, page):
    n_b = int(app.engine.metrics(small_run)["n_train_b"])
    visit(page, f"{app.url}/?tab=inspector&run={small_run}", "#inspector-table [role=gridcell]")
    page.wait_for_selector("#inspector-scatter circle", state="attached")
    dot = page.locator("#inspector-scatter circle").first
    example = dot.get_attribute("data-example")
    dot.dispatch_event("click")  # a dot opens its example, like a row of the table
    wait_text(page, "#inspector-detail", example)
    pick(page, "#inspector-split", "half B (what the student learned from)")
    wait_text(page, "#inspector-heatmap", f"all {n_b:,} examples (none with both")  # the caption counts the rows
    info = wait_text(page, "#inspector-info", "made no prediction")
    assert f"of {n_b:,} examples" in info and "student and ceiling" in info
    wait_until(lambda: "weak conf" in page.locator("#inspector-table [role=columnheader]").all_inner_texts(), 30)
    headers = [h.strip() for h in page.locator("#inspector-table [role=columnheader]").all_inner_texts()]
    assert "weak" in headers and "student" not in headers and "ceiling" not in headers
    assert example not in text_of(page, "#inspector-detail")  # the old split's detail is gone


def test_a_data_map_dot_opens_its_example_and_its_trajectory(app, small_run, page):
    """The data map is clicked like the 2x2 and the scatter: a dot fills the Example field, draws that example's
    trajectory and opens it in the detail panel; a quadrant picked in the 2x2 dims the map's other dots."""
    visit(page, f"{app.url}/?tab=inspector&run={small_run}", "#inspector-table [role=gridcell]")
    page.wait_for_selector("#inspector-cartography circle[data-example]", state="attached")
    dot = page.locator("#inspector-cartography circle[data-example]").nth(3)
    example = dot.get_attribute("data-example")
    dot.dispatch_event("click")
    wait_until(lambda: page.input_value("#inspector-example textarea, #inspector-example input") == example, 30,
               "the Example field to hold the clicked dot's id")
    page.wait_for_selector("#inspector-trajectory .scatterlayer .trace", state="attached")
    assert page.locator("#inspector-trajectory .scatterlayer .trace").count() == 3  # weak, student, ceiling
    assert example in wait_text(page, "#inspector-detail", example).split(" · ")[0]
    quadrant = dot.get_attribute("data-q")
    page.locator(f"#inspector-heatmap [data-quadrant={quadrant}]").click()
    dots = "#inspector-cartography circle[data-example]"
    wait_until(lambda: page.locator(f"{dots}[opacity]").count() > 0, 30, "the other quadrants' dots to dim")
    assert page.locator(f"{dots}[data-q={quadrant}][opacity]").count() == 0
    assert page.locator(f"{dots}:not([opacity])").count() == page.locator(f"{dots}[data-q={quadrant}]").count()
