"""How a policy sees a prompt and a completion: through the tokenizer's chat template (instruct models) or as plain
text, the same way in SFT, preference training, scoring and generation.

    fmt = Format.of(tok, train_cfg)                  # chat when train_cfg.chat_template == "auto" and tok has one
    ids = fmt.prompt_ids("Question: ...\\nAnswer:")   # what generation continues
    full, start = fmt.completion_ids(prompt, " 42")  # prompt + completion, and where the completion starts
    data = fmt.trl_columns(prompts, completion=completions)   # rows for trl's SFTTrainer / DPOTrainer

With a template, a prompt is one user turn rendered with the generation prompt, and a completion is the
assistant turn: trl's trainers apply the template themselves to conversational rows (`trl_columns` hands them
message lists), and `completion_ids` tokenises exactly as they do (the rendered text without added special
tokens; the completion starts where prompt and prompt + completion diverge; no extra EOS, the template closes the
turn). With `bos=True` (trl's CPO / ORPO trainers, which render the template to text first) a BOS is put in front
and an EOS after, as those trainers do. Without a template (base models, `chat_template: off`), the text is used as
it is and the completion gets an EOS, as trl does for plain text. torch is never imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# End-of-turn tokens of common chat templates: generation stops at them as at EOS (an instruct model's EOS is often
# its end of turn, but not always: Llama 3 ends a turn with <|eot_id|>, Gemma with <end_of_turn>).
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>")


@dataclass
class Format:
    tok: Any
    chat: bool

    @classmethod
    def of(cls, tok: Any, settings: Any = None) -> Format:
        """Chat when the settings allow it (`chat_template: auto`, the default) and the tokenizer has a template."""
        wanted = getattr(settings, "chat_template", "auto") != "off"
        return cls(tok, bool(wanted and getattr(tok, "chat_template", None)))

    # -- text ----------------------------------------------------------------------------------------------
    def messages(self, prompt: str, completion: str | None = None) -> list[dict[str, str]]:
        turns = [{"role": "user", "content": prompt}]
        return turns if completion is None else turns + [{"role": "assistant", "content": completion}]

    def render(self, prompt: str, completion: str | None = None) -> str:
        """The text the model reads: the prompt (with the generation prompt) or prompt + completion."""
        if not self.chat:
            return prompt if completion is None else prompt + completion
        return self.tok.apply_chat_template(self.messages(prompt, completion), tokenize=False,
                                            add_generation_prompt=completion is None)

    # -- tokens --------------------------------------------------------------------------------------------
    def _ids(self, text: str, bos: bool, special: bool) -> list[int]:
        tok = self.tok
        ids = tok(text, add_special_tokens=special and not bos)["input_ids"]
        if bos and tok.bos_token_id is not None and (not ids or ids[0] != tok.bos_token_id):
            ids = [tok.bos_token_id, *ids]
        return ids

    def prompt_ids(self, prompt: str, bos: bool = False) -> list[int]:
        return self._ids(self.render(prompt), bos, special=not self.chat)

    def completion_ids(self, prompt: str, completion: str, bos: bool = False) -> tuple[list[int], int]:
        """Token ids of prompt + completion (+ EOS where the trainer adds one) and the index where the completion
        starts, cut as trl's trainers cut (the first position where the prompt alone and the whole diverge)."""
        eos = self.tok.eos_token_id
        prompt_ids = self.prompt_ids(prompt, bos)
        full = self._ids(self.render(prompt, completion), bos, special=not self.chat)
        if eos is not None and (not self.chat or bos) and (not full or full[-1] != eos):
            full = full + [eos]
        start = 0
        while start < min(len(prompt_ids), len(full)) and prompt_ids[start] == full[start]:
            start += 1
        return full, start

    def overhead(self) -> int:
        """Tokens the template adds around an empty prompt and an empty completion (0 without a template, but EOS
        and a possible BOS)."""
        return len(self.completion_ids("", "", bos=True)[0]) + 1

    def stop_token_ids(self, model: Any = None) -> list[int]:
        """EOS, the generation config's EOS ids, and with a template, the end-of-turn tokens the vocabulary has."""
        tok, ids = self.tok, []
        for value in (tok.eos_token_id, getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
            ids += value if isinstance(value, list) else [value]
        if self.chat:
            vocab = tok.get_vocab()
            ids += [vocab[t] for t in END_OF_TURN if t in vocab]
        return list(dict.fromkeys(i for i in ids if i is not None))

    # -- trl rows ------------------------------------------------------------------------------------------
    def trl_columns(self, prompts: list[str], **responses: list[str]) -> dict[str, list[Any]]:
        """Dataset columns for trl: `prompt` and each named response column (completion, or chosen and rejected),
        as message lists with a template (trl applies it) or as text without one (trl appends EOS)."""
        if not self.chat:
            return {"prompt": list(prompts), **{k: list(v) for k, v in responses.items()}}
        return {"prompt": [self.messages(p) for p in prompts],
                **{k: [[{"role": "assistant", "content": r}] for r in v] for k, v in responses.items()}}


def cut_at_stop(text: str, stop: tuple[str, ...] | list[str]) -> str:
    """`text` up to the first stop string (the stop string itself removed); unchanged when none occurs."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
    return text if cut < 0 else text[:cut]
