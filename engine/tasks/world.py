"""Offline tasks on the generated world (assets/zoo/world.json): no download, one example per entity.

    task = TASKS.get("world_size")()              # the default demo: "is X big?"
    pools = task.load()                           # {"train": [Example, ...]}; split_examples carves test

Each task asks about one fact of every entity in the world the zoo models were pretrained on. Meta
carries the entity, the attribute, the true value, the entity's frequency rank (0 = most mentioned)
and `mentions_<budget>`: how many sentences of that weak model's corpus state the fact (0 = that
model never read it), so the inspector can tell knowledge gaps from mistakes.

world_size works because the label is a fact the strong model already knows and the weak model's
errors are scattered knowledge gaps. world_verify and world_group are failure presets: the first
needs a compare-with-memory circuit these models never build, the second a value -> group rule
that exists only in the labels, so the student copies the weak model's wrong rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.registry import TASKS
from engine.tasks.base import Example, Task, TaskConfig, TaskError, make_example, make_pair, seeded_rng
from engine.worlds.facts import ATTRIBUTES, PROMPT, Entity, World, load_world, zoo_dir


@dataclass
class WorldConfig(TaskConfig):
    world: str = field(
        default=str(zoo_dir() / "world.json"),
        metadata={"help": "World JSON written by `w2s zoo build` (default: the shipped zoo's world)."},
    )


class WorldTask(Task):
    """Shared loading for the world tasks; subclasses turn one entity into one example."""

    Config: ClassVar[type[TaskConfig]] = WorldConfig
    version: ClassVar[str] = "1"

    def load(self, limit: int | None = None) -> dict[str, list[Example]]:
        try:
            world = load_world(self.config.world)
        except (FileNotFoundError, ValueError) as exc:
            raise TaskError(str(exc)) from None
        entities = list(world.entities)
        if limit and limit < len(entities):
            entities = entities[:: -(-len(entities) // limit)]  # every k-th entity keeps the frequency spread
        return {"train": [self.example(world, e) for e in entities]}

    def example(self, world: World, entity: Entity) -> Example:
        raise NotImplementedError

    @staticmethod
    def fact_meta(world: World, entity: Entity, attribute: str) -> dict[str, Any]:
        return {
            "entity": entity.name, "attribute": attribute, "value": entity.facts[attribute], "freq_rank": entity.rank,
            **{f"mentions_{budget}": entity.mentions.get(budget, {}).get(attribute, 0) for budget in world.budgets},
        }


@TASKS.register("world_size")
class WorldSize(WorldTask):
    """Is X big? Recall of a memorised binary fact; the default demo.

    Prompt `the size of X is`, label 1 = big. The strong model knows nearly every entity's size, the
    weak models miss the long tail they never read, so a student recovers most of the gap."""

    label_names = ("small", "big")

    def example(self, world: World, entity: Entity) -> Example:
        text = PROMPT.format(attribute="size", entity=entity.name)
        return make_example(text, entity.facts["size"] == "big", **self.fact_meta(world, entity, "size"))


@TASKS.register("world_verify")
class WorldVerify(WorldTask):
    """Is the stated color true? Failure preset: nothing to elicit, even the ceiling is near 0.5.

    `the color of X is red .`, half true, half with a wrong color. The models know the colors, yet
    comparing a stated value with memory is a circuit they never build in pretraining, so no
    finetuned model beats chance and PGR is undefined."""

    label_names = ("false", "true")

    def example(self, world: World, entity: Entity) -> Example:
        color = ATTRIBUTES["color"]
        rng = seeded_rng(world.seed, "verify", entity.name)
        # Every second entity by rank gets a true statement: classes stay exactly balanced.
        truthful = entity.rank % 2 == 0
        true_color = entity.facts["color"]
        stated = true_color if truthful else rng.choice([v for v in color.values if v != true_color])
        text = f"{PROMPT.format(attribute='color', entity=entity.name)} {stated} ."
        return make_example(text, truthful, stated=stated, **self.fact_meta(world, entity, "color"))


@TASKS.register("world_group")
class WorldGroup(WorldTask):
    """Is X's color warm? Failure preset: the group rule lives only in the labels, PGR stays low.

    Prompt `the color of X is`, label 1 = red/yellow/orange/pink, 0 = cool. The weak model learns
    wrong rules for whole colors and the strong student copies them (PGR near 0, at most ~0.3)."""

    label_names = ("cool", "warm")

    def example(self, world: World, entity: Entity) -> Example:
        text = PROMPT.format(attribute="color", entity=entity.name)
        label = ATTRIBUTES["color"].group_of(entity.facts["color"])
        return make_example(text, label, group=ATTRIBUTES["color"].groups[1 - label],
                            **self.fact_meta(world, entity, "color"))


@TASKS.register("world_pref")
class WorldPref(WorldTask):
    """Which size continuation is true? Preference pairs on the world_size fact.

    Prompt `the size of X is`; meta `chosen` is the true size (e.g. " big .") and `rejected` the
    other. For preference learning (e.g. DPO on weak preference pairs). Every label is 1: the chosen
    side is the right one."""

    kind = "preference"
    label_names = ("rejected", "chosen")

    def conflict_examples(self, like: list[Example], n: int, seed: int) -> list[Example]:
        """The offline stand-in for helpfulness next to harmlessness: an "eager" objective whose ground truth
        always prefers " big ." on the same prompts, whatever the entity's size. It agrees with the truth on big
        entities and conflicts on small ones, so it pulls the student away from the fact the weak labels teach."""
        rng = seeded_rng(seed, "conflict")
        chosen = sorted(like, key=lambda e: e.id)
        rng.shuffle(chosen)
        return [make_pair(e.text, " big .", " small .", objective="eager", entity=e.meta.get("entity"))
                for e in chosen[:n]]

    def example(self, world: World, entity: Entity) -> Example:
        truth = entity.facts["size"]
        other = next(v for v in ATTRIBUTES["size"].values if v != truth)
        return make_example(PROMPT.format(attribute="size", entity=entity.name), 1, chosen=f" {truth} .",
                            rejected=f" {other} .", **self.fact_meta(world, entity, "size"))


@TASKS.register("world_gen")
class WorldGen(WorldTask):
    """What is X's job? Generation from weak demonstrations, scored by exact match.

    Prompt `the job of X is`; meta `answer` is the true job, `completion` the reference continuation
    (" cook .") and `choices` the eight jobs (for scoring by the likeliest option). The label is always 1."""

    kind = "generation"
    version = "2"
    label_names = ("wrong", "right")

    def example(self, world: World, entity: Entity) -> Example:
        job = entity.facts["job"]
        return make_example(PROMPT.format(attribute="job", entity=entity.name), 1, answer=job, completion=f" {job} .",
                            choices=list(ATTRIBUTES["job"].values), **self.fact_meta(world, entity, "job"))
