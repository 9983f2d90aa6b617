"""Anthropic HH-RLHF: is this the transcript people preferred?

Source: Anthropic/hh-rlhf (Bai et al. 2022; jsonl.gz with chosen and rejected, two full transcripts
"Human: ... Assistant: ..." that share the conversation and differ in the last reply). `subset` reads
one folder (harmless-base, helpful-base, helpful-online, helpful-rejection-sampled); empty = all four,
as openai/weak-to-strong (the red-team-attempts folder has another format and is never read).

Text = the chosen transcript (label 1) or the rejected one (label 0), surrounding whitespace removed.
Per pair a seeded coin flip (`seeded_rng(seed, chosen, rejected)`) picks which one; with `pairs` both
are emitted. Pairs whose two transcripts are identical are dropped (the same text under both labels).

Caution: judged alone, one transcript is nearly unclassifiable. Every model in openai/weak-to-strong
stays at chance here (openai/weak-to-strong issue #34: a reward model compares the two replies; this
format hides the comparison), so PGR on this task is noise. It is kept to reproduce Burns et al.'s setup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.registry import TASKS
from engine.tasks._hub import HubTask, PairedHubConfig, clean
from engine.tasks.base import Example, TaskError, content_id, make_example, seeded_rng

SUBSETS = ("harmless-base", "helpful-base", "helpful-online", "helpful-rejection-sampled")


def check_subset(subset: str | None) -> None:
    """The folder names of Anthropic/hh-rlhf these tasks read (red-team-attempts has another format)."""
    if subset is not None and subset not in SUBSETS:
        raise TaskError(f"subset={subset!r} is not one of {', '.join(SUBSETS)}. Fix: pick one or leave it empty")


@TASKS.register("anthropic_hh")
class AnthropicHH(HubTask):
    """Anthropic HH-RLHF (Anthropic/hh-rlhf): one transcript, label 1 = chosen, 0 = rejected. Models stay
    at chance on single transcripts (openai/weak-to-strong issue #34)."""

    version = "1"
    label_names = ("rejected", "chosen")
    hub_id = "Anthropic/hh-rlhf"
    hub_splits = {"train": "train", "test": "test"}
    columns = ("chosen", "rejected")

    @dataclass
    class Config(PairedHubConfig):
        """Settings of the anthropic_hh task (the shared hub settings, `pairs` and the subset)."""

        subset: str | None = field(
            default=None,
            metadata={"help": f"Folder of the repo to read: {', '.join(SUBSETS)}; empty = all four. "
                              "Ignored with data_files (point it at the folder instead)."},
        )

        def __post_init__(self) -> None:
            super().__post_init__()
            check_subset(self.subset)

    def data_dir(self) -> str | None:
        return self.config.subset

    def row_examples(self, row: dict[str, Any]) -> list[Example]:
        chosen, rejected = clean(row["chosen"]), clean(row["rejected"])
        if not chosen or not rejected or chosen == rejected:
            return []
        meta = {"pair": content_id(chosen, rejected), "subset": self.config.subset or "all"}
        chosen_ex = make_example(chosen, 1, role="chosen", **meta)
        rejected_ex = make_example(rejected, 0, role="rejected", **meta)
        if self.config.pairs:
            return [chosen_ex, rejected_ex]
        return [chosen_ex if seeded_rng(self.config.seed, chosen, rejected).random() < 0.5 else rejected_ex]
