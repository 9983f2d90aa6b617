"""Chat templates: a policy reads prompts and writes completions through its tokenizer's template the same way in
trl's trainers, in scoring and in generation; `chat_template: off` and template-less tokenizers use plain text."""

from __future__ import annotations

from engine.config import TrainConfig
from engine.ml.chat import Format, cut_at_stop


def _tok(folder):
    from engine.ml.loading import load_tokenizer
    from engine.models import resolve_model

    return load_tokenizer(resolve_model(folder))


def test_the_template_is_used_when_there_is_one_and_not_when_turned_off(chat_models):
    tok, plain = _tok(chat_models["qwen2"]), _tok(chat_models["qwen2_plain"])
    assert Format.of(tok, TrainConfig()).chat and not Format.of(tok, TrainConfig(chat_template="off")).chat
    assert not Format.of(plain, TrainConfig()).chat
    text = Format.of(tok, TrainConfig()).render("what is two plus two?")
    assert text == "<|im_start|>user\nwhat is two plus two?<|im_end|>\n<|im_start|>assistant\n"
    assert Format.of(plain, TrainConfig()).render("hi", " there") == "hi there"


def test_completion_ids_are_the_templates_own_tokens(chat_models):
    tok = _tok(chat_models["qwen2"])
    fmt = Format.of(tok, TrainConfig())
    prompt, completion = "what is two plus two?", "four."
    full, start = fmt.completion_ids(prompt, completion)
    msgs = [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
    expected = tok.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"]
    prompt_ids = tok.apply_chat_template(msgs[:1], tokenize=True, add_generation_prompt=True, return_dict=True)
    assert full == expected and start == len(prompt_ids["input_ids"])
    assert tok.decode(full[start:]) == "four.<|im_end|>\n"  # the turn closes with the template's end of turn
    # CPO / ORPO render the template to text and add BOS and EOS themselves: so does bos=True
    with_bos, _ = fmt.completion_ids(prompt, completion, bos=True)
    assert with_bos[0] == tok.bos_token_id and with_bos[-1] == tok.eos_token_id
    assert Format.of(tok, TrainConfig()).stop_token_ids()[:1] == [tok.eos_token_id]
    assert tok.convert_tokens_to_ids("<|im_end|>") in fmt.stop_token_ids()


def test_plain_completion_ids_end_with_eos_as_trl_appends_it(chat_models):
    tok = _tok(chat_models["qwen2_plain"])
    full, start = Format.of(tok, TrainConfig()).completion_ids("Question: two plus two? Answer:", " four.")
    assert full[-1] == tok.eos_token_id and tok.decode(full[start:-1]) == " four."


def test_sft_trains_on_exactly_the_tokens_scoring_reads(chat_models):
    """trl's SFTTrainer, given the conversational rows `trl_columns` makes, tokenises each example into the ids and
    completion start that Format.completion_ids gives (the ones engine.ml.scoring scores)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from engine.ml.callbacks import quiet
    from engine.ml.loading import load_policy
    from engine.models import resolve_model

    cfg = TrainConfig(max_length=64)
    model, tok = load_policy(resolve_model(chat_models["qwen2"]), cfg)
    fmt = Format.of(tok, cfg)
    prompts, completions = ["what is two plus two?", "is it safe?"], ["four.", "yes it is safe."]
    data = Dataset.from_dict(fmt.trl_columns(prompts, completion=completions))
    args = SFTConfig(output_dir="/tmp/w2s-test-sft", use_cpu=True, bf16=False, report_to="none", max_length=64,
                     activation_checkpointing=False)
    with quiet():
        trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok)
    for row, prompt, completion in zip(trainer.train_dataset, prompts, completions):
        full, start = fmt.completion_ids(prompt, completion)
        assert row["input_ids"] == full and row["labels"] == [-100] * start + full[start:]


def test_cut_at_stop_removes_the_first_stop_string_and_what_follows():
    text = " 3 + 4 = 7.\n#### 7\n\nQuestion: Ann has 2 pens. #### 9"
    assert cut_at_stop(text, ("Question:",)) == " 3 + 4 = 7.\n#### 7\n\n"
    assert cut_at_stop(text, ("nothing",)) == text and cut_at_stop(text, ()) == text
    assert cut_at_stop("a STOP b END", ("END", "STOP")) == "a "
