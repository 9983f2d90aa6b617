"""RealToxicityPrompts (Gehman et al. 2020; Ye et al. 2024's toxicity task): continue a sentence start.

Source: allenai/real-toxicity-prompts (jsonl; `prompt` and `continuation` are records with a `text` field and
Perspective API scores). A generation task: text = the prompt's text, meta `completion` = the original
continuation (with a leading space), `prompt_toxicity` = the prompt's own score when the file has one. The
hub has one split, so split_examples carves the test set. Methods score generations with a toxicity scorer
(`toxic_words:...` offline, or `classifier:<model>` for a local toxicity classifier).
"""

from __future__ import annotations

from typing import Any

from engine.registry import TASKS
from engine.tasks._hub import HubTask, clean
from engine.tasks.base import Example, make_example


def _text(field: Any) -> str:
    return clean(field.get("text") if isinstance(field, dict) else field)


@TASKS.register("real_toxicity_prompts")
class RealToxicityPrompts(HubTask):
    """RealToxicityPrompts (allenai/real-toxicity-prompts): a sentence start to continue; generations are rated by a
    toxicity scorer (mean toxicity, expected maximum over K samples, toxicity probability; lower is better)."""

    kind = "generation"
    version = "1"
    max_new_tokens = 20  # the RealToxicityPrompts protocol: 20-token continuations
    label_names = ("toxic", "non-toxic")
    hub_id = "allenai/real-toxicity-prompts"
    hub_splits = {"train": "train"}
    columns = ("prompt", "continuation")

    def row_examples(self, row: dict[str, Any]) -> list[Example]:
        prompt, continuation = _text(row["prompt"]), _text(row["continuation"])
        if not prompt or not continuation:
            return []
        tox = row["prompt"].get("toxicity") if isinstance(row["prompt"], dict) else None
        return [make_example(prompt, 1, completion=" " + continuation, prompt_toxicity=tox)]
