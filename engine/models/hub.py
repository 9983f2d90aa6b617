"""Hub models of the Burns et al. 2023 ladder and small modern models, with their default learning rates.

The learning rates follow openai/weak-to-strong (batch size 32, "not particularly tuned"); the parameter counts are
the model cards' (they order the pairs of a weak x strong grid without a download)."""

from engine.models import ModelSpec
from engine.registry import MODELS

for _name, _lr, _params, _desc in [
    ("gpt2", 5e-5, 124e6, "GPT-2 small, 124M"),
    ("gpt2-medium", 5e-5, 355e6, "GPT-2 medium, 355M"),
    ("gpt2-large", 1e-5, 774e6, "GPT-2 large, 774M"),
    ("gpt2-xl", 1e-5, 1.5e9, "GPT-2 XL, 1.5B"),
    ("Qwen/Qwen2.5-0.5B", 1e-5, 0.49e9, "Qwen2.5 0.5B"),
    ("Qwen/Qwen2.5-1.5B", 1e-5, 1.54e9, "Qwen2.5 1.5B"),
    ("Qwen/Qwen2.5-7B", 1e-5, 7.61e9, "Qwen2.5 7B (use LoRA on one GPU)"),
    ("EleutherAI/pythia-160m", 5e-5, 162e6, "Pythia 160M"),
    ("EleutherAI/pythia-1b", 1e-5, 1.01e9, "Pythia 1B"),
]:
    MODELS.add(_name, ModelSpec(name=_name, source=_name, default_lr=_lr, description=_desc, kind="hub",
                                params=_params))
