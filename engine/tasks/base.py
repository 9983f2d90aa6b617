"""Task base classes, the Example record and the seeded A/B/test split every method uses.

A task turns a source (hub dataset, user file, generated world) into `Example`s with a stable id
(a hash of content), text, gold label and meta. `split_examples` then makes the Burns et al. halves:
A (weak model and ceiling, ground truth), B (student, weak labels) and test. The test set is fixed per task
version (the same for every seed, so a median over seeds is over one test set); the seed picks the halves.
A task's cache identity hashes its settings with every file they name replaced by the file's content hash.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

# The salt of the seed-independent test set: the test set every seed uses is the one seed 0 used before the
# test set was fixed, so seed-0 results of earlier versions stay comparable.
TEST_SEED = 0


@dataclass
class Example:
    id: str
    text: str
    label: int
    meta: dict[str, Any] = field(default_factory=dict)


def content_id(*parts: Any) -> str:
    """Stable example id: a hash of the example's content, so the same example keeps its id across loads."""
    h = hashlib.sha1("\x1f".join(str(p) for p in parts).encode())
    return h.hexdigest()[:16]


_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes, remembered per (path, size, mtime) within the process."""
    path = Path(path).expanduser().resolve()
    st = path.stat()
    memo = (str(path), st.st_size, st.st_mtime_ns)
    if memo not in _FILE_DIGESTS:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _FILE_DIGESTS[memo] = h.hexdigest()
    return _FILE_DIGESTS[memo]


def files_digest(files: list[Path], root: Path | None = None) -> list[tuple[str, str]]:
    """(name relative to `root`, content sha256) of each file, sorted: what a folder's cache identity holds."""
    return sorted((str(f.relative_to(root)) if root else f.name, file_digest(f)) for f in files if f.is_file())


def names_data(field_name: str) -> bool:
    """Whether a task setting names data on disk, by its name: `path`, `*_path`, `*file*` or `world`."""
    return field_name in ("path", "world") or field_name.endswith("_path") or "file" in field_name


def content_of(value: Any) -> Any:
    """A data setting as a cache key sees it: a string naming an existing file, folder or glob becomes the
    content hash of what it names (so an edited file gets a new identity and a moved one keeps its own);
    other values, and lists / mappings of them, stay as they are."""
    if isinstance(value, dict):
        return {k: content_of(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [content_of(v) for v in value]
    if not isinstance(value, str) or not value.strip() or "\n" in value or len(value) > 4096:
        return value
    path = Path(value).expanduser()
    try:
        if path.is_file():
            return {"file": file_digest(path)}
        if path.is_dir():
            return {"folder": files_digest([p for p in path.rglob("*")], path)}
    except OSError:
        return value
    if any(c in value for c in "*?["):
        matched = [Path(m) for m in sorted(glob.glob(str(path), recursive=True))]
        if matched:
            return {"glob": files_digest(matched, None)}
    return value


def make_example(text: str, label: int, **meta: Any) -> Example:
    return Example(id=content_id(text, int(label)), text=text, label=int(label), meta=meta)


def make_pair(prompt: str, chosen: str, rejected: str, **meta: Any) -> Example:
    """A preference example: text = the prompt, label 1 (chosen is the better response); its id hashes all three
    texts, so two pairs on the same prompt stay distinct."""
    return Example(id=content_id(prompt, chosen, rejected), text=prompt, label=1,
                   meta={"chosen": chosen, "rejected": rejected, **meta})


class TaskError(ValueError):
    """A task's source cannot be used; the message names the problem and the fix."""


@dataclass
class TaskConfig:
    """Settings of a task's source. Subclass per task for its own fields (file path, column names...)."""


class Task:
    """A registered task family. Subclasses set `version` (bump it whenever examples could change),
    `kind`, a `Config` dataclass, and implement `load`."""

    kind: ClassVar[str] = "classification"  # or "preference", "generation"
    version: ClassVar[str] = "1"
    Config: ClassVar[type[TaskConfig]] = TaskConfig
    registry_name: ClassVar[str] = ""
    # Plain-language label names shown in the studio (index = label).
    label_names: ClassVar[tuple[str, ...]] = ("0", "1")
    # True when loading needs no network and takes a moment (a local file, a generated task): such a task is
    # loaded and split when a config is validated, so a missing column or a single class fails before queueing.
    loads_locally: ClassVar[bool] = False
    # Generation defaults: where a completion ends (stop strings, removed from it), how long it may be, and the room
    # its prompts need (train.max_length when the config does not set one).
    stop: ClassVar[tuple[str, ...]] = ()
    max_new_tokens: ClassVar[int] = 8
    max_length: ClassVar[int] = 512

    def __init__(self, config: TaskConfig | None = None):
        self.config = config if config is not None else self.Config()
        self.notes: list[str] = []  # what loading did that the user should know (rows skipped, labels mapped)

    def load(self, limit: int | None = None) -> dict[str, list[Example]]:
        """Return pools of examples keyed 'train' and, if the source has one, 'test'.
        `limit` is a hint: a loader may stop after about that many rows per pool."""
        raise NotImplementedError

    def conflict_examples(self, like: list[Example], n: int, seed: int) -> list[Example]:
        """Up to `n` ground-truth pairs of a second objective that conflicts with this preference task's own
        (Yang et al. 2024's implicit conflict: helpfulness next to harmlessness). `like` are training examples
        the conflict may be built on (never test ones). Tasks without such an objective refuse."""
        raise TaskError(f"task '{self.registry_name}' has no conflicting objective for conflict: implicit. Fix: use "
                        "world_pref or anthropic_hh_pairs, or conflict: none / explicit")

    def cache_version(self) -> str:
        """Identity of the examples this task yields: name, code version and its settings, every file a setting
        names keyed by its content (an edited data file is a new task version, a moved one is not)."""
        settings = {k: content_of(v) if names_data(k) else v for k, v in dataclasses.asdict(self.config).items()}
        cfg = json.dumps(settings, sort_keys=True, default=str)
        return f"{self.registry_name}@{self.version}:{hashlib.sha1(cfg.encode()).hexdigest()[:8]}"


@dataclass
class Splits:
    a: list[Example]
    b: list[Example]
    test: list[Example]
    # Rows the split left out and why: "duplicates" (a repeated id), "overlap" (a training row also in test),
    # "balance" (undersampled majority class). Reported with the run's metrics, so a smaller set is never silent.
    dropped: dict[str, int] = field(default_factory=dict)

    def by_name(self) -> dict[str, list[Example]]:
        return {"A": self.a, "B": self.b, "test": self.test}


def _seeded_order(examples: list[Example], seed: int, salt: str) -> list[Example]:
    # Order by a hash of (seed, id) rather than shuffling list positions: the split of an example
    # then does not depend on the order the source returned rows in.
    return sorted(examples, key=lambda e: hashlib.sha1(f"{salt}:{seed}:{e.id}".encode()).digest())


def _balance(examples: list[Example]) -> list[Example]:
    by_label: dict[int, list[Example]] = {}
    for e in examples:
        by_label.setdefault(e.label, []).append(e)
    n = min(len(v) for v in by_label.values())
    keep = {e.id for v in by_label.values() for e in v[:n]}
    return [e for e in examples if e.id in keep]


def _dedupe(examples: list[Example]) -> list[Example]:
    seen: set[str] = set()
    out = []
    for e in examples:
        if e.id not in seen:
            seen.add(e.id)
            out.append(e)
    return out


MIN_EXAMPLES = 8


def split_examples(
    pools: dict[str, list[Example]],
    seed: int,
    n_train: int | None = None,
    n_test: int | None = None,
    balance: bool = True,
    test_frac: float = 0.2,
    task_name: str = "task",
    kind: str = "classification",
) -> Splits:
    """Deterministic split into disjoint halves A/B of the train pool plus a test set.

    The test set does not depend on `seed`: without a 'test' pool, `test_frac` of the train pool is carved
    off in a fixed order, and balancing and `n_test` cut the test pool in a fixed order too, so every seed of
    a task version scores on the same examples (as Burns et al. score every seed on the dataset's test split).
    `seed` orders the training pool: which rows `balance` (undersampling the majority class) and `n_train`
    keep, and which land in A or B. Class checks and balancing apply to classification tasks only: a
    preference example's label is always 1 (its `chosen` response is the better one) and a generation
    example's is unused.
    """
    raw_train, raw_test = pools.get("train", []), pools.get("test", [])
    train, test = _dedupe(raw_train), _dedupe(raw_test)
    dropped = {"duplicates": len(raw_train) - len(train) + len(raw_test) - len(test)}
    if not train:
        raise TaskError(f"task '{task_name}' yielded no training examples; check its source or filters")
    if len(train) + len(test) < MIN_EXAMPLES:  # else the class check below would blame the labels
        raise TaskError(f"task '{task_name}' has only {len(train) + len(test)} distinct examples; a run needs at least "
                        f"{MIN_EXAMPLES} (two training halves of 2 or more and a test set with both classes). "
                        "Fix: add rows")
    if not test:
        train = _seeded_order(train, TEST_SEED, "carve")
        k = max(1, int(round(len(train) * test_frac)))
        test, train = train[:k], train[k:]
    test_ids = {e.id for e in test}
    before = len(train)
    train = [e for e in train if e.id not in test_ids]  # an example never sits in both
    dropped["overlap"] = before - len(train)
    for name, pool in (("train", train), ("test", test)) if kind == "classification" else ():
        labels = {e.label for e in pool}
        if len(labels) < 2:
            raise TaskError(
                f"task '{task_name}': the {name} examples all have label {labels.pop() if labels else '?'}; "
                "a weak-to-strong run needs both classes. Fix: check the label column or add examples of the other class"
            )
    train = _seeded_order(train, seed, "train")
    test = _seeded_order(test, TEST_SEED, "test")
    if balance and kind == "classification":
        before = len(train) + len(test)
        train, test = _balance(train), _balance(test)
        dropped["balance"] = before - len(train) - len(test)
    if n_train:
        train = train[:n_train]
    if n_test:
        test = test[:n_test]
    half = len(train) // 2
    if half < 2:
        raise TaskError(f"task '{task_name}' has {len(train)} training examples after filtering; need at least 4")
    return Splits(a=train[:half], b=train[half : 2 * half], test=test, dropped=dropped)


def seeded_rng(seed: int, *salt: Any) -> random.Random:
    """A Random for formatting choices (distractor picks, coin flips) that depends only on seed and salt."""
    return random.Random(content_id(seed, *salt))
