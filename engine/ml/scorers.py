"""Gold scorers: the named, disclosed judges that say which of two responses is better, or whether a
generation is right, where a method needs more than the task's own labels.

    scorer = get_scorer("world_facts")                        # the offline world's exact fact checker
    scorer = get_scorer("reward_model:/path/to/rm")           # any reward model: folder, zoo name or hub id
    scores = scorer.score(prompts, responses, metas)          # one float per response, higher = better
    p_right = as_prob(scorer, scores)                         # by the transform the scorer declares
    scorer.name, scorer.description                           # stored with the run's metrics

Every scorer declares the scale of its scores, once: "probability" (0/1 or P(toxic): used as they are, and
must lie in [0, 1]) or "logit" (a reward model's unbounded score: P = sigmoid(score), so a reward model is
always cut at 0 whatever the scores of one stage happen to be).

`resolve_scorer("auto", spec)` picks `world_facts` for the world tasks and no scorer elsewhere: a method
then reports the numbers that need one as undefined, with the reason. An LLM judge is a scorer like any
other and optional: register a factory (`@SCORERS.register("my_judge")`, called with the text after the
colon of "my_judge:<arg>") that returns an object with `name`, `description` and `score`.
Importing this module stays light; a reward model loads torch on first use.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import numpy as np

from engine.registry import SCORERS

_ARTICLES = {"a", "an", "the"}


class Scorer(Protocol):
    name: str
    description: str
    scale: str  # "probability" or "logit": how a score becomes P(right), see as_prob

    def score(self, prompts: list[str], responses: list[str], metas: list[dict[str, Any]] | None = None
              ) -> np.ndarray: ...


class ScorerError(ValueError):
    """A scorer cannot be built or cannot judge these inputs; the message names the fix."""


def as_prob(scorer: Any, scores: Any) -> np.ndarray:
    """A scorer's scores as P(right) by the one transform it declares (`scale`): "probability" scores as they
    are, "logit" scores through a sigmoid. Never decided from the values, which would cut the same scorer at
    0.5 in one stage and at 0 in another."""
    scores = np.asarray(scores, dtype=np.float64)
    scale = getattr(scorer, "scale", "probability")
    if scale == "logit":
        return 1.0 / (1.0 + np.exp(-np.clip(scores, -60, 60)))
    if scale != "probability":
        raise ScorerError(f"scorer {getattr(scorer, 'name', scorer)!r} declares scale={scale!r}; use "
                          "'probability' or 'logit'")
    if len(scores) and not ((scores >= 0) & (scores <= 1)).all():
        bad = scores[(scores < 0) | (scores > 1)][0]
        raise ScorerError(f"scorer {getattr(scorer, 'name', scorer)!r} declares probability scores but gave "
                          f"{bad:.4g}; declare scale = 'logit' for unbounded scores")
    return scores


@SCORERS.register("world_facts")
class WorldFacts:
    """The world's exact fact checker: 1 if the completion's first word (after an article) is the entity's true
    value of the asked attribute, else 0. The entity and attribute come from the example's meta or from a prompt
    of the form `the <attribute> of <entity> is`."""

    name = "world_facts"
    scale = "probability"
    description = ("world_facts: exact match of the completion's first word with the world's fact "
                   "(1 = true value, 0 = anything else)")

    def __init__(self, world: str | None = None):
        from engine.worlds.facts import PROMPT, load_world

        try:
            loaded = load_world(world or None)
        except (FileNotFoundError, ValueError) as exc:
            raise ScorerError(str(exc)) from None
        self.facts = {e.name: e.facts for e in loaded.entities}
        self._prompt = re.compile(re.escape(PROMPT).replace(r"\{attribute\}", r"(?P<attribute>\S+)")
                                  .replace(r"\{entity\}", r"(?P<entity>\S+)") + r"\s*$")

    def truth(self, prompt: str, meta: dict[str, Any] | None) -> str:
        meta = meta or {}
        entity, attribute = meta.get("entity"), meta.get("attribute")
        if entity is None or attribute is None:
            match = self._prompt.search(prompt.strip())
            if match is None:
                raise ScorerError(f"world_facts cannot judge the prompt {prompt[-80:]!r}: it asks about no world fact. "
                                  "Fix: use it on a world task or pick another gold scorer")
            entity, attribute = match["entity"], match["attribute"]
        if entity not in self.facts or attribute not in self.facts[entity]:
            raise ScorerError(f"world_facts knows no fact '{attribute}' of '{entity}'. Fix: score with the world "
                              "the task was built from")
        return self.facts[entity][attribute]

    def score(self, prompts: list[str], responses: list[str], metas: list[dict[str, Any]] | None = None
              ) -> np.ndarray:
        metas = metas or [None] * len(prompts)
        out = np.zeros(len(prompts))
        for k, (prompt, response, meta) in enumerate(zip(prompts, responses, metas)):
            words = [w for w in response.replace("<|endoftext|>", " ").split()]
            while words and words[0] in _ARTICLES:
                words = words[1:]
            out[k] = float(bool(words) and words[0] == self.truth(prompt, meta))
        return out


class _ModelScorer:
    """What the scorers backed by a local or hub sequence classifier share: the model argument, and loading it
    once, on first use (so building a scorer at config time stays cheap)."""

    name = "model"
    what = "a sequence classifier"

    def __init__(self, source: str | None = None, max_length: int = 512, batch_size: int = 32):
        if not source:
            raise ScorerError(f"{self.name} needs a model: write {self.name}:<folder or hub id>")
        from engine.models import resolve_model

        self.spec = resolve_model(source)
        self.name = f"{self.name}:{source}"
        self.max_length, self.batch_size = max_length, batch_size
        self._loaded: tuple[Any, Any] | None = None

    def _classifier(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from transformers import AutoModelForSequenceClassification
            from transformers.utils import logging as hf_logging

            from engine.config import ModelSettings
            from engine.ml.loading import load_kwargs, load_tokenizer
            from engine.models import ModelError

            hf_logging.set_verbosity_error()
            tok = load_tokenizer(self.spec)
            try:  # a frozen judge: fp32 on CPU, the checkpoint's own dtype on a GPU
                model = AutoModelForSequenceClassification.from_pretrained(
                    self.spec.source, **load_kwargs(ModelSettings(), trainable=False))
            except (OSError, ValueError) as exc:
                raise ModelError(f"scorer {self.name} cannot be loaded as {self.what}: {exc}") from None
            model.config.pad_token_id = tok.pad_token_id
            self._loaded = (model.eval(), tok)
        return self._loaded


@SCORERS.register("reward_model")
class RewardModelScorer(_ModelScorer):
    """A trained reward model (sequence classifier, one output; a two-class head scores logit 1 - logit 0) on
    prompt and response as the model was trained to read them: through its own chat template when its tokenizer
    has one (a user and an assistant turn: Skywork, ArmoRM, Tulu RMs), as a text pair when it is an encoder
    (DeBERTa / RoBERTa RMs: question and answer segments), else prompt + response + EOS, pooled at the last real
    token. The argument is a folder, zoo name or hub id."""

    name = "reward_model"
    what = "a reward model"
    scale = "logit"

    def __init__(self, source: str | None = None, max_length: int = 512, batch_size: int = 32):
        super().__init__(source, max_length, batch_size)
        self.description = f"{self.name}: the reward model's score of prompt + response (higher = better)"

    def _load(self) -> tuple[Any, Any]:
        return self._classifier()

    def score(self, prompts: list[str], responses: list[str], metas: list[dict[str, Any]] | None = None
              ) -> np.ndarray:
        from types import SimpleNamespace

        from engine.ml.scoring import score_texts

        model, tok = self._load()
        cfg = SimpleNamespace(max_length=self.max_length, eval_batch_size=self.batch_size)
        return score_texts(model, tok, list(prompts), list(responses), cfg, encoding=reward_encoding(model, tok))


@SCORERS.register("toxic_words")
class ToxicWords:
    """An offline toxicity scorer: 1 if the response contains a listed word (whole word, case-insensitive), else 0.
    The argument is the words, comma-separated, or a text file with one word per line."""

    name = "toxic_words"
    scale = "probability"

    def __init__(self, words: str | None = None):
        from pathlib import Path

        if not words:
            raise ScorerError("toxic_words needs a word list: write toxic_words:word1,word2 or toxic_words:<file>")
        path = Path(words).expanduser()
        listed = path.read_text().split() if path.is_file() else words.split(",")
        self.words = {w.strip().lower() for w in listed if w.strip()}
        if not self.words:
            raise ScorerError(f"toxic_words:{words} lists no word")
        self.name = f"toxic_words:{','.join(sorted(self.words))}"
        self.description = f"{self.name}: 1 if the response contains one of these words, else 0 (offline stand-in)"

    def score(self, prompts: list[str], responses: list[str], metas: list[dict[str, Any]] | None = None
              ) -> np.ndarray:
        return np.array([float(bool(self.words & set(re.findall(r"[\w']+", r.lower())))) for r in responses])


@SCORERS.register("classifier")
class ClassifierScorer(_ModelScorer):
    """A local text classifier as a toxicity judge (e.g. a folder holding a toxicity model): the probability of its
    toxic label (the label named toxic / toxicity, else label 1) for the response alone. Argument: folder or hub id."""

    name = "classifier"
    what = "a classifier"
    scale = "probability"

    def __init__(self, source: str | None = None, max_length: int = 512, batch_size: int = 32):
        super().__init__(source, max_length, batch_size)
        self.description = f"{self.name}: P(toxic) of the classifier on the response"

    def _load(self) -> tuple[Any, Any, int]:
        model, tok = self._classifier()
        labels = {str(v).lower(): int(k) for k, v in (model.config.id2label or {}).items()}
        return model, tok, next((labels[n] for n in ("toxic", "toxicity", "label_1") if n in labels), 1)

    def score(self, prompts: list[str], responses: list[str], metas: list[dict[str, Any]] | None = None
              ) -> np.ndarray:
        import torch

        model, tok, toxic = self._load()
        independent = toxic_probability_is_sigmoid(model.config)
        device = next(model.parameters()).device
        out = []
        with torch.no_grad():
            for b in range(0, len(responses), self.batch_size):
                enc = tok(list(responses[b:b + self.batch_size]), return_tensors="pt", padding=True, truncation=True,
                          max_length=self.max_length).to(device)
                logits = model(**enc).logits.float()
                probs = torch.sigmoid(logits) if independent else torch.softmax(logits, -1)
                out.append(probs[:, toxic if logits.shape[-1] > 1 else 0].cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)


def toxic_probability_is_sigmoid(config: Any) -> bool:
    """Whether a classifier's labels are independent (multi-label: P(toxic) is the sigmoid of its own logit, as in
    unitary/toxic-bert's toxic, severe_toxic, obscene, ... heads) rather than exclusive (softmax over the labels).
    Read from the config's problem_type; a single output is a sigmoid too."""
    multi = getattr(config, "problem_type", None) == "multi_label_classification"
    return multi or getattr(config, "num_labels", 2) == 1


def reward_encoding(model: Any, tok: Any) -> str:
    """How a reward model reads (prompt, response): "chat" (its tokenizer's chat template), "pair" (an encoder's
    two text segments) or "text" (prompt + response + EOS)."""
    if getattr(tok, "chat_template", None):
        return "chat"
    config = getattr(model, "config", None)
    if config is not None and not getattr(config, "is_decoder", False) and getattr(model, "score", None) is None:
        return "pair"
    return "text"


@SCORERS.register("answer_match")
class AnswerMatch:
    """A reasoning task's own grading as a gold score: 1 if the response's final answer (the task's extractor) is the
    example's gold answer (meta `answer`, compared by the task's equivalence: math-verify for MATH), else 0. The
    argument is the task: gsm8k, hendrycks_math or arith_sums."""

    scale = "probability"

    def __init__(self, task: str | None = None):
        from engine.registry import TASKS

        if not task or task not in TASKS or not hasattr(TASKS.get(task), "extract_answer"):
            raise ScorerError(f"answer_match needs a reasoning task: answer_match:gsm8k, answer_match:hendrycks_math "
                              f"or answer_match:arith_sums (got {task!r})")
        cls = TASKS.get(task)
        self.extract, self.same = cls.extract_answer, getattr(cls, "same_answer", None) or (lambda g, a: g == a)
        self.name = f"answer_match:{task}"
        self.description = f"{self.name}: 1 if the final answer is the gold one ({task}'s extractor), else 0"

    def score(self, prompts: list[str], responses: list[str], metas: list[dict[str, Any]] | None = None
              ) -> np.ndarray:
        if metas is None or any("answer" not in (m or {}) for m in metas):
            raise ScorerError(f"{self.name} needs each example's gold answer (meta 'answer'): use it on "
                              f"{self.name.partition(':')[2]}")
        return np.array([float(bool(a := self.extract(r)) and self.same(m["answer"], a))
                         for r, m in zip(responses, metas)])


def get_scorer(spec: str, **kwargs: Any) -> Scorer:
    """A scorer from its name, with an argument after a colon: "world_facts", "reward_model:<model>"."""
    name, _, arg = str(spec).partition(":")
    try:
        factory = SCORERS.get(name.strip())
    except KeyError as exc:
        raise ScorerError(f"gold scorer: {exc}") from None
    return factory(arg.strip() or None, **kwargs)


def resolve_scorer(spec: str, task_config: Any = None) -> Scorer | None:
    """`spec` as a scorer; "auto" = world_facts on the world tasks (their config names the world file), none
    elsewhere; "none" = no scorer."""
    if spec == "none":
        return None
    if spec == "auto":
        world = getattr(task_config, "world", None)
        return WorldFacts(world) if world else None
    return get_scorer(spec)


def check_scorer_name(spec: str) -> None:
    """ValueError for a scorer spec that cannot be right, before anything trains (used in config validation)."""
    name = str(spec).partition(":")[0].strip()
    if spec in ("auto", "none"):
        return
    if name not in SCORERS.names():
        raise ValueError(f"gold_scorer={spec!r}: unknown scorer '{name}'; use auto, none, "
                         f"{', '.join(n + (':<arg>' if n != 'world_facts' else '') for n in SCORERS.names())}")
    needs_arg = name in ("reward_model", "classifier", "toxic_words", "answer_match")
    if needs_arg and not str(spec).partition(":")[2].strip():
        what = {"toxic_words": "words or file", "answer_match": "task"}.get(name, "folder, zoo name or hub id")
        raise ValueError(f"gold_scorer='{name}' needs an argument: {name}:<{what}>")
