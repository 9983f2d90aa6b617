"""Amazon polarity: is this product review positive?

Source: fancyzhx/amazon_polarity (Zhang et al. 2015; parquet with label (0 negative, 1 positive), title,
content; train 3.6M / test 400k rows). Format as openai/weak-to-strong, "{title} {content}":

    Sturdy and quiet This fan runs all night without a rattle and moves plenty of air. ...

Label 1 = positive review, 0 = negative. The splits are large, so by default only `max_rows` = 50,000
rows per split are read, a seeded random sample (openai/weak-to-strong reads 20k train / 10k test); set it empty
to read every row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.registry import TASKS
from engine.tasks._hub import HubConfig, HubTask, clean
from engine.tasks.base import Example, make_example


@TASKS.register("amazon_polarity")
class AmazonPolarity(HubTask):
    """Amazon review polarity (fancyzhx/amazon_polarity) as "{title} {content}"; label 1 = positive.
    Reads a seeded sample of 50,000 rows per split unless max_rows says otherwise."""

    version = "1"
    label_names = ("negative", "positive")
    hub_id = "fancyzhx/amazon_polarity"
    hub_splits = {"train": "train", "test": "test"}
    columns = ("label", "title", "content")

    @dataclass
    class Config(HubConfig):
        """Settings of the amazon_polarity task (the shared hub settings, a smaller default max_rows)."""

        max_rows: int | None = field(
            default=50_000,
            metadata={"help": "Read at most this many rows per split (3.6M train rows on the hub), a seeded random "
                              "sample; empty = every row."},
        )

    def row_examples(self, row: dict[str, Any]) -> list[Example]:
        title, content = clean(row["title"]), clean(row["content"])
        text = f"{title} {content}".strip()
        if not text or row["label"] not in (0, 1):
            return []
        return [make_example(text, int(row["label"]), title=title)]
