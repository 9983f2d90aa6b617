"""`toy_sentiment`: a small generated sentiment task that needs no download (tests, smoke runs).

Each text is a short run of words; label 1 when it holds more positive than negative words. A
`noise` share of labels is flipped, so models do not reach 100% and weak/strong gaps can show."""

from dataclasses import dataclass, field

from engine.registry import TASKS
from engine.tasks.base import Task, TaskConfig, make_example, seeded_rng

POSITIVE = "good great fine lovely nice superb happy bright".split()
NEGATIVE = "bad awful poor ugly nasty dull sad grim".split()
NEUTRAL = "the a item day film food room book was is very quite and it".split()
VOCAB = POSITIVE + NEGATIVE + NEUTRAL


@dataclass
class ToyConfig(TaskConfig):
    n: int = field(default=600, metadata={"help": "Number of examples to generate."})
    noise: float = field(default=0.05, metadata={"help": "Share of labels flipped at random."})
    seed: int = field(default=0, metadata={"help": "Generator seed (the split seed is separate)."})


@TASKS.register("toy_sentiment")
class ToySentiment(Task):
    """Generated sentiment: more positive than negative words -> 1 (no download; for tests and smoke runs)."""

    version = "1"
    Config = ToyConfig
    label_names = ("negative", "positive")

    def load(self, limit=None):
        rng = seeded_rng(self.config.seed, "toy")
        examples, seen = [], set()
        while len(examples) < self.config.n:
            n_pos, n_neg = rng.randint(0, 3), rng.randint(0, 3)
            if n_pos == n_neg:
                continue
            words = [rng.choice(POSITIVE) for _ in range(n_pos)] + [rng.choice(NEGATIVE) for _ in range(n_neg)]
            words += [rng.choice(NEUTRAL) for _ in range(rng.randint(2, 6))]
            rng.shuffle(words)
            text = " ".join(words)
            label = int(n_pos > n_neg)
            flipped = rng.random() < self.config.noise
            ex = make_example(text, 1 - label if flipped else label, flipped=flipped)
            if ex.id not in seen:
                seen.add(ex.id)
                examples.append(ex)
        return {"train": examples}
