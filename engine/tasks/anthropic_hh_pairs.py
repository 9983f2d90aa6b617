"""Anthropic HH-RLHF as preference pairs: the shared conversation, then the chosen and the rejected last reply.

Source: Anthropic/hh-rlhf (Bai et al. 2022), the same files as `anthropic_hh`. Each row holds two full
transcripts that share the conversation and differ in the last "Assistant:" turn. The prompt is the shared
part up to and including the last "\\n\\nAssistant:" marker; chosen and rejected are the two last replies,
each starting with a space (so trl's prompt/completion cut falls on a token boundary). `subset` picks
harmless-base (the harmlessness objective of Yang et al. 2024) or helpful-base (the conflicting one), etc.
Rows whose transcripts do not share that prefix, or whose two replies are identical, are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.registry import TASKS
from engine.tasks._hub import HubConfig, HubTask, clean
from engine.tasks.anthropic_hh import SUBSETS, check_subset
from engine.tasks.base import Example, TaskError, make_pair

MARKER = "\n\nAssistant:"


def split_transcripts(chosen: str, rejected: str) -> tuple[str, str, str] | None:
    """(prompt, chosen reply, rejected reply) of two transcripts that differ only in the last assistant turn."""
    cut_c, cut_r = chosen.rfind(MARKER), rejected.rfind(MARKER)
    if cut_c < 0 or cut_r < 0 or chosen[:cut_c] != rejected[:cut_r]:
        return None
    prompt = chosen[: cut_c + len(MARKER)]
    reply_c, reply_r = chosen[cut_c + len(MARKER):].strip(), rejected[cut_r + len(MARKER):].strip()
    if not reply_c or not reply_r or reply_c == reply_r:
        return None
    return prompt, " " + reply_c, " " + reply_r


@TASKS.register("anthropic_hh_pairs")
class AnthropicHHPairs(HubTask):
    """Anthropic HH-RLHF (Anthropic/hh-rlhf) as pairs: prompt = the shared conversation, chosen / rejected = the two
    last assistant replies. The preference methods' hub task; `subset` harmless-base or helpful-base."""

    kind = "preference"
    version = "1"
    stop = ("\n\nHuman:",)  # a base model writes the next turn of the dialogue; the reply ends before it
    max_new_tokens = 128
    label_names = ("rejected", "chosen")
    hub_id = "Anthropic/hh-rlhf"
    hub_splits = {"train": "train", "test": "test"}
    columns = ("chosen", "rejected")

    @dataclass
    class Config(HubConfig):
        """Settings of the anthropic_hh_pairs task (the shared hub settings and the subset)."""

        subset: str | None = field(
            default="harmless-base",
            metadata={"help": f"Folder of the repo to read: {', '.join(SUBSETS)}; empty = all four. "
                              "Ignored with data_files (point it at the folder instead)."},
        )

        def __post_init__(self) -> None:
            super().__post_init__()
            check_subset(self.subset)

    def data_dir(self) -> str | None:
        return self.config.subset

    def conflict_examples(self, like: list[Example], n: int, seed: int) -> list[Example]:
        """Yang et al.'s implicit conflict: ground-truth pairs of the helpful-base subset (harmless-base for a
        helpfulness run), from the same source (hub or, with data_files, a sibling folder of that name)."""
        import dataclasses
        from pathlib import Path

        other = "helpful-base" if self.config.subset != "helpful-base" else "harmless-base"
        files = self.config.data_files
        if files is not None:
            files = str(Path(files).expanduser().parent / other)
            if not Path(files).exists():
                raise TaskError(f"conflict: implicit reads {other} pairs from {files}, which does not exist. Fix: put "
                                f"the {other} folder of hh-rlhf beside {self.config.data_files}")
        source = type(self)(dataclasses.replace(self.config, subset=other, data_files=files, seed=seed))
        return source.load(limit=n)["train"][:n]

    def row_examples(self, row: dict[str, Any]) -> list[Example]:
        parts = split_transcripts(clean(row["chosen"]), clean(row["rejected"]))
        if parts is None:
            return []
        prompt, chosen, rejected = parts
        return [make_pair(prompt, chosen, rejected, subset=self.config.subset or "all")]
