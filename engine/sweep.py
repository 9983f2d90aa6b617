"""What a sweep spreads over beyond methods and seeds: the weak x strong model-pair grid, and the resources each
run's worker asks of the cluster that places it.

    model_pairs(["world-xs", "world-s"], ["world-s", "world-l"])   # the 3 pairs whose weak model is smaller
    Resources(num_gpus=1, memory="16GB").memory_bytes()            # 16_000_000_000
    parse_bytes("512MiB")                                          # 536_870_912

engine.config reads both from an experiment config (`weak`, `strong`, `all_pairs`, `resources`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class ModelListError(ValueError):
    """`weak` or `strong` is neither a model nor a list of distinct models (engine.config reports it)."""


def model_pairs(weak: str | list[str], strong: str | list[str], all_pairs: bool = False) -> list[tuple[str, str]]:
    """The (weak, strong) pairs of a config: one weak and one strong model are one pair, as given; lists make a grid
    of the pairs whose weak model is smaller (engine.models.smaller_pairs), or of every pair with `all_pairs`."""
    weaks, strongs = _model_list(weak, "weak"), _model_list(strong, "strong")
    if all_pairs or len(weaks) * len(strongs) == 1:
        return [(w, s) for w in weaks for s in strongs]
    from engine.models import smaller_pairs  # reads model sizes: only for a real grid

    return smaller_pairs(weaks, strongs)


def _model_list(value: str | list[str], where: str) -> list[str]:
    names = [n.strip() for n in (value if isinstance(value, list) else [value]) if isinstance(n, str) and n.strip()]
    if not names or len(set(names)) < len(names):
        raise ModelListError(f"{where}: give a model (a catalogue name, hub id or local folder) or a list of "
                             f"distinct models, not {value!r}")
    return names


_BYTES = {"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
          "tib": 2**40}


def parse_bytes(value: str | int | float) -> int:
    """'16GB' -> 16e9, '512MiB' -> 512 * 2**20, 1000 -> 1000; ValueError naming the accepted forms."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*", str(value).lower())
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"memory={value!r} is not an amount of memory; write e.g. 8GB, 512MiB or a number of bytes")
    return int(float(m.group(1)) * _BYTES[m.group(2) or ""])


@dataclass
class Resources:
    """What one run's worker asks for: Ray places the run on a node that has them. They change where a run goes,
    never its results, so no stage's cache key reads them."""

    num_cpus: float = field(default=1.0, metadata={"help": "CPU cores reserved for the run (Ray); also the torch "
                                                          "threads of a Ray worker unless W2S_THREADS is set."})
    num_gpus: float | None = field(default=None, metadata={"help": "GPUs for the run (Ray); empty = 1 when the "
                                                                  "cluster has GPUs, else 0."})
    memory: str | None = field(default=None, metadata={"help": "Memory reserved on the node, e.g. 16GB (Ray); "
                                                               "empty = no reservation."})

    def __post_init__(self) -> None:
        if self.num_cpus <= 0:
            raise ValueError(f"num_cpus={self.num_cpus} must be > 0")
        if self.num_gpus is not None and self.num_gpus < 0:
            raise ValueError(f"num_gpus={self.num_gpus} must be >= 0")
        if self.memory is not None:
            parse_bytes(self.memory)

    def memory_bytes(self) -> int | None:
        return None if self.memory is None else parse_bytes(self.memory)
