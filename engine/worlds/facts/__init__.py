"""The offline demo world and its model zoo: a generated world of facts, a word-level tokenizer and a
family of tiny GPT-2 models pretrained on it, all built on CPU in a few minutes and shipped in assets/zoo.

    from engine.worlds.facts.build import build_zoo      # imports torch; python -m engine.worlds.facts.build --help
    build_zoo(Path("assets/zoo"), seed=0)         # what `w2s zoo build --seed 0` runs

Modules: generator (world + corpus, standard library only), tokenizer, pretrain (Trainer + recall
probe), build (the zoo folder and its manifest). Importing this package stays light: tasks read the
world JSON without torch.
"""

from __future__ import annotations

from pathlib import Path

from engine.paths import zoo_dir
from engine.worlds.facts.generator import ATTRIBUTES, PROMPT, Entity, World, make_world

__all__ = ["ATTRIBUTES", "PROMPT", "Entity", "World", "make_world", "zoo_dir", "load_world"]


def load_world(path: str | Path | None = None) -> World:
    """Read a world JSON (default: the zoo's world.json)."""
    path = Path(path).expanduser() if path else zoo_dir() / "world.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no world file at {path}; build the zoo with `w2s zoo build` or pass an existing world.json"
        )
    return World.from_json(path.read_text())
