"""Word-level tokenizer of the offline world, saved in the standard Hugging Face format.

    tok = build_tokenizer(world)          # transformers.PreTrainedTokenizerFast
    tok.save_pretrained(folder)           # then AutoTokenizer.from_pretrained(folder) works offline

Every word of the world is one token (WordLevel model, split on whitespace), so an entity name is a
single token: tiny models memorise single-token entities far faster than multi-token ones. No
special tokens are added around a text; sentences are separated by <|endoftext|> when the corpus
is packed for pretraining, and <|endoftext|> also serves as bos and eos, as in GPT-2.
"""

from __future__ import annotations

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from engine.worlds.facts.generator import World

EOS, PAD, UNK = "<|endoftext|>", "<pad>", "<unk>"
SPECIAL_TOKENS = (PAD, EOS, UNK)
MAX_LENGTH = 64  # the pretraining context; world texts are at most 12 words


def build_tokenizer(world: World) -> PreTrainedTokenizerFast:
    """A tokenizer whose vocabulary is the special tokens followed by the world's words, sorted."""
    vocab = {token: i for i, token in enumerate((*SPECIAL_TOKENS, *world.words()))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=EOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        model_max_length=MAX_LENGTH,
    )
