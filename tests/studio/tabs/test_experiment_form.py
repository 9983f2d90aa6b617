"""studio.tabs.experiment_form: seeds, the equivalent command, and a form that carries nothing between configs."""

from __future__ import annotations

import gradio as gr

from engine.config import ExperimentConfig, TrainConfig, field_docs
from studio.forms import Form
from studio.tabs.experiment_form import ExperimentForm, cli_line, parse_seeds


def test_seeds_and_the_command_for_an_engine_that_is_up():
    assert parse_seeds("0, 1, 2") == [0, 1, 2] and parse_seeds("0-3") == [0, 1, 2, 3]
    assert "not a whole number" in parse_seeds("a")
    line = cli_line({"name": "my exp"})
    assert "w2s submit my-exp.yaml" in line and line.index("w2s submit") < line.index("w2s run")


def _form() -> ExperimentForm:
    registry = {"tasks": [{"name": "world_size", "fields": []}], "models": [],
                "methods": [{"name": "naive", "fields": []}, {"name": "aux_conf", "fields": [
                    {"name": "aux_coef", "kind": "float", "default": 0.75, "help": ""}]}]}
    ef = ExperimentForm(registry)
    with gr.Blocks():
        for name in ("name", "task", "weak", "strong", "method_pick", "seeds", "tags"):
            setattr(ef, name, gr.Textbox())
        ef.task_forms["world_size"] = Form.build([], "task-world_size")
        ef.method_forms["naive"] = Form.build([], "m-naive")
        ef.method_forms["aux_conf"] = Form.build(registry["methods"][1]["fields"], "m-aux", "settings.aux_conf")
        ef.train_form = Form.build(field_docs(TrainConfig), "train", "train")
        ef.extra_form = Form.build([f for f in field_docs(ExperimentConfig) if f["name"] in ("n_test", "balance")],
                                   "exp", "config")
    return ef


def test_a_second_config_resets_what_the_first_set():
    ef = _form()
    first = {"task": "world_size", "weak": "world-xs", "strong": "world-l", "methods": ["aux_conf"],
             "train": {"epochs": 60}, "settings": {"aux_conf": {"aux_coef": 0.1}}, "n_test": 34}
    second = {"task": "world_size", "weak": "world-xs", "strong": "world-s", "methods": ["naive", "aux_conf"]}
    config, problem = ef.config(ef.fill(first))
    assert problem is None and config["train"] == {"epochs": 60.0} and config["n_test"] == 34
    config, _ = ef.config(ef.fill(second))
    assert "train" not in config and "settings" not in config and "n_test" not in config
