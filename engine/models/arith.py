"""The arithmetic zoo: tiny GPT-2 models pretrained on multi-step sums (engine.worlds.arith), shipped in assets/zoo/arith.

    w2s run assets/configs/reasoning.yaml     # progressive_refine, arith-s -> arith-l on arith_sums

Rebuild the weights with `python -m engine.worlds.arith.build --seed 0` (the folder is $W2S_ARITH_DIR if set).
"""

from engine.models import ModelSpec
from engine.paths import arith_dir
from engine.registry import MODELS

ARITH_DIR = arith_dir()
ARITH_LR = 2e-4  # the world zoo's finetuning rate; these models share its sizes and optimiser

for _size, _desc in [
    ("s", "Arithmetic GPT-2 s: 64d x 2L, 120k params; read a 12,000-line corpus (weak supervisor)"),
    ("l", "Arithmetic GPT-2 l: 128d x 2L, 439k params; read an unlimited stream (strong student)"),
]:
    _name = f"arith-{_size}"
    MODELS.add(_name, ModelSpec(_name, source=str(ARITH_DIR / _size), default_lr=ARITH_LR, description=_desc,
                                kind="zoo"))
