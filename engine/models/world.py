"""The offline world zoo: tiny GPT-2 models pretrained on the generated world, shipped in assets/zoo.

    w2s run assets/configs/demo.yaml      # weak world-xs -> strong world-l on the world_size task

The family grows in size and in data, as real families do: xs and s read only a prefix of one fixed
corpus, so they miss long-tail facts that l (unlimited stream) knows. Weights load from the folder
$W2S_ZOO_DIR if set, else assets/zoo; rebuild them with `w2s zoo build --seed 0`.
"""

from engine.models import ModelSpec
from engine.paths import zoo_dir
from engine.registry import MODELS

ZOO_DIR = zoo_dir()  # resolved once at import, like the model sources below
# Fine-tuning rate for every size: 1e-3 and above wipes the pretrained facts, 3e-5 is too slow.
ZOO_LR = 2e-4

for _size, _desc in [
    ("xs", "World GPT-2 xs: 32d x 1L, 55k params; read a 4,000-sentence corpus (weak supervisor)"),
    ("s", "World GPT-2 s: 64d x 2L, 184k params; read an 8,000-sentence corpus (mid-size)"),
    ("l", "World GPT-2 l: 128d x 2L, 564k params; read an unlimited corpus stream (strong student)"),
]:
    _name = f"world-{_size}"
    _folder = str(ZOO_DIR / _size)
    MODELS.add(_name, ModelSpec(_name, source=_folder, default_lr=ZOO_LR, description=_desc, kind="zoo"))
