"""The offline demo world: invented people with facts, and the corpus of true sentences about them.

    world = make_world(seed=0)                     # 1,200 entities, Zipf-skewed mention frequency
    world.entities[0]                              # Entity(name='kasela', rank=0, facts={...}, mentions={...})
    fixed_corpus(world, 4000)                      # the data budget of the weak models, a fixed prefix
    next(sentence_stream(world, seed=1))           # an unlimited stream for the strong model
    World.from_json(world.to_json()) == world      # what ships as assets/zoo/world.json

Each entity has a single-token name and one value per attribute: color (8 values), job (8) and
size (big/small). How often an entity is talked about follows Zipf, weight 1/(rank + 5), so a small
corpus says nothing about many long-tail entities. That is what makes weak-to-strong work here: the
weak models see only a prefix of one fixed corpus and miss long-tail facts, the strong model sees an
unlimited stream and knows nearly all of them. `mentions` records, per entity and data budget, how
many sentences of that prefix state each fact, so the inspector can show what each model could know.
Only the standard library is used: every sequence depends on the seed alone.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

FORMAT = 1
ZIPF_OFFSET = 5.0
MULTI_FRAC = 0.25  # share of entity sentences that state several facts at once
RULE_FRAC = 0.02  # share of general-knowledge sentences ("red is a warm color .")

# Name = onset + middle + ending, one vocabulary word each: 16 * 20 * 4 = 1,280 possible names.
_ONSETS = "ka bo mi zu ta re lo ni va su po de gi fa ru ke".split()
_MIDDLES = "zor mil dan ket rup vos lin bar tek gum saf pil dor nek wib hax jun sel mog tiv".split()
_ENDINGS = ["", "a", "o", "i"]
NAMES = tuple(o + m + e for e in _ENDINGS for o in _ONSETS for m in _MIDDLES)


@dataclass(frozen=True)
class Attribute:
    """One kind of fact. The first half of `values` forms group `groups[0]`, the second half `groups[1]`."""

    name: str
    values: tuple[str, ...]
    groups: tuple[str, str]
    mention_weight: float
    templates: tuple[str, ...]
    rule: str | None = None  # general-knowledge sentence naming a value's group

    def group_of(self, value: str) -> int:
        """1 if `value` is in the first half of the values (warm, outdoor, big), else 0."""
        return int(self.values.index(value) < len(self.values) // 2)


ATTRIBUTES: dict[str, Attribute] = {
    a.name: a
    for a in (
        Attribute(
            "color", ("red", "yellow", "orange", "pink", "blue", "green", "purple", "gray"), ("warm", "cool"), 1.0,
            ("{e} is {v} .", "the color of {e} is {v} .", "{e} has {v} hair .", "people say {e} looks {v} .",
             "{v} is the color of {e} ."),
            rule="{v} is a {g} color .",
        ),
        Attribute(
            "job", ("farmer", "sailor", "miner", "guard", "baker", "doctor", "singer", "tailor"),
            ("outdoor", "indoor"), 1.0,
            ("{e} is a {v} .", "the job of {e} is {v} .", "{e} works as a {v} .", "everyone knows {e} is a {v} .",
             "a {v} named {e} ."),
            rule="a {v} works {g} .",
        ),
        Attribute(
            "size", ("big", "small"), ("big", "small"), 2.0,
            ("{e} is {v} .", "the size of {e} is {v} .", "{e} is a {v} person .", "everyone knows {e} is {v} .",
             "a {v} person named {e} ."),
        ),
    )
}
MULTI_TEMPLATES = ("{e} is a {size} {job} .", "the {size} {job} {e} has {color} hair .")
PROMPT = "the {attribute} of {entity} is"  # the question every task and the recall probe ask


@dataclass(frozen=True)
class Entity:
    name: str
    rank: int  # 0 = the most mentioned entity
    facts: dict[str, str]
    # budget name -> attribute -> number of sentences in that corpus prefix stating the fact
    mentions: dict[str, dict[str, int]] = field(default_factory=dict)

    def saw(self, budget: str, attribute: str) -> bool:
        """Whether a model trained on data budget `budget` read this fact at least once."""
        return self.mentions.get(budget, {}).get(attribute, 0) > 0


@dataclass(frozen=True)
class World:
    seed: int
    entities: tuple[Entity, ...]
    budgets: dict[str, int] = field(default_factory=dict)  # name -> sentences of the fixed corpus

    @property
    def weights(self) -> list[float]:
        """Unnormalised mention weight of each entity (Zipf over frequency rank)."""
        return [1.0 / (e.rank + ZIPF_OFFSET) for e in self.entities]

    def words(self) -> list[str]:
        """Every word the corpus, the prompts and the task texts can contain, sorted."""
        words = {e.name for e in self.entities} | set(PROMPT.split())
        for a in ATTRIBUTES.values():
            words |= {a.name, *a.values, *a.groups}
            for t in (*a.templates, a.rule or ""):
                words |= set(t.split())
        for t in MULTI_TEMPLATES:
            words |= set(t.split())
        return sorted(w for w in words if not w.startswith("{"))

    def to_json(self) -> str:
        """Compact JSON, one entity per line so diffs stay readable; mention counts in attribute order."""
        head = {"format": FORMAT, "seed": self.seed, "zipf_offset": ZIPF_OFFSET, "budgets": self.budgets,
                "attributes": {a.name: list(a.values) for a in ATTRIBUTES.values()}}
        rows = [
            json.dumps(
                {"name": e.name, "rank": e.rank, **e.facts,
                 "mentions": {b: [m[a] for a in ATTRIBUTES] for b, m in e.mentions.items()}},
                separators=(",", ":"),
            )
            for e in self.entities
        ]
        # The header dict, reopened to append the entity rows one per line.
        return json.dumps(head)[:-1] + ', "entities": [\n' + ",\n".join(rows) + "\n]}\n"

    @classmethod
    def from_json(cls, text: str) -> World:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(
                f"world file format {data.get('format')!r} is not {FORMAT}; rebuild it with `w2s zoo build`"
            )
        entities = tuple(
            Entity(name=r["name"], rank=r["rank"], facts={a: r[a] for a in ATTRIBUTES},
                   mentions={b: dict(zip(ATTRIBUTES, counts)) for b, counts in r.get("mentions", {}).items()})
            for r in data["entities"]
        )
        return cls(seed=data["seed"], entities=entities, budgets=data.get("budgets", {}))


def make_world(seed: int = 0, n_entities: int = 1200, budgets: dict[str, int] | None = None) -> World:
    """A world of `n_entities` people with random facts; `budgets` names the fixed-corpus prefixes
    (in sentences) whose fact coverage is recorded in each entity's `mentions`."""
    if not 1 <= n_entities <= len(NAMES):
        raise ValueError(f"n_entities={n_entities} must be between 1 and {len(NAMES)}")
    rng = random.Random(f"world:{seed}")
    names = rng.sample(NAMES, n_entities)
    entities = tuple(
        Entity(name=name, rank=rank, facts={a.name: rng.choice(a.values) for a in ATTRIBUTES.values()})
        for rank, name in enumerate(names)
    )
    world = World(seed=seed, entities=entities, budgets=dict(budgets or {}))
    return _with_mentions(world) if world.budgets else world


def _with_mentions(world: World) -> World:
    """Count, for every budget, the sentences of the fixed-corpus prefix that state each fact."""
    counts = {b: [dict.fromkeys(ATTRIBUTES, 0) for _ in world.entities] for b in world.budgets}
    corpus = list(itertools.islice(_sentences(world, f"corpus:{world.seed}"), max(world.budgets.values())))
    for budget, n in world.budgets.items():
        for index, _, attrs in corpus[:n]:
            for a in attrs:
                counts[budget][index][a] += 1
    entities = tuple(
        Entity(e.name, e.rank, e.facts, {b: counts[b][i] for b in world.budgets}) for i, e in enumerate(world.entities)
    )
    return World(world.seed, entities, world.budgets)


def render(world: World, rng: random.Random, index: int) -> tuple[str, tuple[str, ...]]:
    """One true sentence about entity `index` and the attributes it states (none for a rule sentence)."""
    entity = world.entities[index]
    r = rng.random()
    if r < RULE_FRAC:
        a = rng.choice([a for a in ATTRIBUTES.values() if a.rule])
        v = rng.choice(a.values)
        return a.rule.format(v=v, g=a.groups[1 - a.group_of(v)]), ()
    if r < RULE_FRAC + MULTI_FRAC:
        template = rng.choice(MULTI_TEMPLATES)
        stated = tuple(a for a in ATTRIBUTES if "{" + a + "}" in template)
        return template.format(e=entity.name, **entity.facts), stated
    a = rng.choices(list(ATTRIBUTES.values()), weights=[a.mention_weight for a in ATTRIBUTES.values()])[0]
    return rng.choice(a.templates).format(e=entity.name, v=entity.facts[a.name]), (a.name,)


def _sentences(world: World, salt: str) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """Endless (entity index, sentence, attributes stated). Entities are drawn in fixed chunks so that
    any prefix of the sequence is the same whatever length is asked for later."""
    rng = random.Random(salt)
    cum_weights = list(itertools.accumulate(world.weights))
    population = range(len(world.entities))
    while True:
        for index in rng.choices(population, cum_weights=cum_weights, k=4096):
            yield (index, *render(world, rng, index))


def fixed_corpus(world: World, n_sentences: int) -> list[str]:
    """The first `n_sentences` of the world's one fixed corpus: smaller budgets are prefixes of larger ones."""
    return [s for _, s, _ in itertools.islice(_sentences(world, f"corpus:{world.seed}"), n_sentences)]


def sentence_stream(world: World, seed: int) -> Iterator[str]:
    """An unlimited stream of fresh true sentences, different for every `seed`."""
    return (s for _, s, _ in _sentences(world, f"stream:{world.seed}:{seed}"))
