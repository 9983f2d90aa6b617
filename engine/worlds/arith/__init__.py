"""The offline arithmetic world: multi-step sums written as text, and a family of tiny causal LMs pretrained on
arithmetic at different sizes, shipped in assets/zoo/arith (the weak-to-strong reasoning methods' offline path).

    from engine.worlds.arith import extract_answer, make_problem, question, solution, solve
    p = make_problem(random.Random(0))            # operands and operators of a 3-step problem
    question(p)                                   # "Q: 12 + 7 - 5 + 3 A:"
    solution(p)                                   # " 12 + 7 = 19 . 19 - 5 = 14 . 14 + 3 = 17 . #### 17"

    python -m engine.worlds.arith.build                  # pretrain arith-s and arith-l (~2 min on one core)

Like the fact world, the family differs in size and data: the weak model reads a small fixed corpus, so it
misses many entries of the addition and subtraction tables; the strong one reads an unlimited stream. The
corpus mixes single facts in several phrasings ("12 plus 7 is 19") with worked problems in the task's own
format, as a base model's pretraining text holds some worked math. Standard library only: importing this
package never imports torch.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from engine.paths import arith_dir  # noqa: F401  (re-exported: the arithmetic zoo's folder)

LOW, HIGH = 1, 20           # operand range
STEPS = 3                   # operations per problem: four operands
VALUES = range(-60, 121)    # every number a problem or a fact can hold
FACT_TEMPLATES = ("{a} plus {b} is {c} .", "{a} + {b} = {c} .", "the sum of {a} and {b} is {c} .",
                  "{a} minus {b} is {c} .", "{a} - {b} = {c} .", "take {b} from {a} and get {c} .")


@dataclass(frozen=True)
class Problem:
    operands: tuple[int, ...]
    ops: tuple[str, ...]  # "+" or "-", one fewer than operands


def make_problem(rng: random.Random) -> Problem:
    operands = tuple(rng.randint(LOW, HIGH) for _ in range(STEPS + 1))
    return Problem(operands, tuple(rng.choice("+-") for _ in range(STEPS)))


def steps(p: Problem) -> list[tuple[int, str, int, int]]:
    """Each step as (left, op, right, result)."""
    out, acc = [], p.operands[0]
    for op, b in zip(p.ops, p.operands[1:]):
        result = acc + b if op == "+" else acc - b
        out.append((acc, op, b, result))
        acc = result
    return out


def solve(p: Problem) -> int:
    return steps(p)[-1][3]


def question(p: Problem) -> str:
    terms = [str(p.operands[0])] + [f"{op} {b}" for op, b in zip(p.ops, p.operands[1:])]
    return f"Q: {' '.join(terms)} A:"


def solution(p: Problem) -> str:
    """The worked solution, starting with a space so it continues the question on a token boundary."""
    return "".join(f" {a} {op} {b} = {c} ." for a, op, b, c in steps(p)) + f" #### {solve(p)}"


def fact(rng: random.Random) -> str:
    a, b = rng.randint(-20, 60), rng.randint(LOW, HIGH)
    template = rng.choice(FACT_TEMPLATES)
    c = a + b if ("plus" in template or "+" in template or "sum" in template) else a - b
    return template.format(a=a, b=b, c=c)


def stream(seed: int, worked_share: float = 0.3) -> Iterator[str]:
    """Endless pretraining text: facts, and worked problems in the task's format (`worked_share` of the lines)."""
    rng = random.Random(f"arith-stream:{seed}")
    while True:
        if rng.random() < worked_share:
            p = make_problem(rng)
            yield question(p) + solution(p)
        else:
            yield fact(rng)


def corpus(seed: int, n: int) -> list[str]:
    """A fixed corpus of `n` lines: the first lines of the stream (the weak models' data budget)."""
    it = stream(seed)
    return [next(it) for _ in range(n)]


def words() -> list[str]:
    """Every word the arithmetic texts use (the tokenizer's vocabulary, besides its special tokens)."""
    symbols = {"Q:", "A:", "+", "-", "=", ".", "####", "plus", "minus", "is", "the", "sum", "of", "and", "take",
               "from", "get"}
    return sorted(symbols) + [str(v) for v in VALUES]


def extract_answer(text: str) -> str:
    """The final answer after '####' (the last one), normalised: '' when there is none."""
    if "####" not in text:
        return ""
    tail = text.rsplit("####", 1)[1].strip().split()
    return tail[0].rstrip(".") if tail else ""
