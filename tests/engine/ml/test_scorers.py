"""engine.ml.scorers: the offline toxic-words scorer and a classifier scorer on a local model."""

from __future__ import annotations

import pytest


def test_toxic_words_scorer_matches_whole_words():
    from engine.ml.scorers import ScorerError, get_scorer

    scorer = get_scorer("toxic_words:guard, Miner")
    assert scorer.score(["p"] * 4, [" guard .", " a miner!", " guardian .", " baker ."]).tolist() == [1, 1, 0, 0]
    with pytest.raises(ScorerError, match="word list"):
        get_scorer("toxic_words")


def test_classifier_scorer_reads_the_toxic_label_of_a_local_model(tmp_path):
    import torch
    from transformers import GPT2Config, GPT2ForSequenceClassification

    from engine.ml.scorers import get_scorer
    from tests.helpers import build_tiny_model

    folder = build_tiny_model(tmp_path / "tox", ["you", "are", "kind", "awful"], n_embd=16)
    cfg = GPT2Config.from_pretrained(folder, num_labels=2, id2label={0: "toxic", 1: "neutral"},
                                     label2id={"toxic": 0, "neutral": 1})
    torch.manual_seed(0)
    GPT2ForSequenceClassification(cfg).save_pretrained(folder)
    scorer = get_scorer(f"classifier:{folder}")
    scores = scorer.score(["p"] * 3, ["you are kind", "you are awful", "awful"])
    model = GPT2ForSequenceClassification.from_pretrained(folder).eval()
    tok = scorer._load()[1]
    with torch.no_grad():
        enc = tok(["you are kind"], return_tensors="pt")
        expected = torch.softmax(model(**enc).logits, -1)[0, 0].item()  # label 0 is named toxic here
    assert scores.shape == (3,) and ((0 <= scores) & (scores <= 1)).all()
    assert scores[0] == pytest.approx(expected, abs=1e-5)


def test_a_multi_label_toxicity_classifier_is_read_through_a_sigmoid(chat_models, tmp_path):
    """unitary/toxic-bert-style heads (toxic, severe_toxic, obscene, ...) are independent labels: P(toxic) is the
    sigmoid of the toxic logit, not a softmax over labels that are not exclusive."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from engine.ml.scorers import get_scorer

    labels = ["toxic", "severe_toxic", "obscene", "insult"]
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        chat_models["bert"], num_labels=4, problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    model.save_pretrained(tmp_path / "tox")
    AutoTokenizer.from_pretrained(chat_models["bert"]).save_pretrained(tmp_path / "tox")
    texts = ["the film was bad", "hello world"]
    scores = get_scorer(f"classifier:{tmp_path / 'tox'}").score(["p"] * 2, texts)
    tok = AutoTokenizer.from_pretrained(tmp_path / "tox")
    with torch.no_grad():
        logits = AutoModelForSequenceClassification.from_pretrained(tmp_path / "tox", dtype=torch.float32).eval()(
            **tok(texts, return_tensors="pt", padding=True)).logits
    assert scores == pytest.approx(torch.sigmoid(logits[:, 0]).numpy(), abs=1e-5)
    assert scores != pytest.approx(torch.softmax(logits, -1)[:, 0].numpy(), abs=1e-3)


@pytest.mark.parametrize("which,encoding", [("qwen2", "chat"), ("bert", "pair"), ("qwen2_plain", "text")])
def test_a_gold_reward_model_reads_prompt_and_response_its_own_way(chat_models, tmp_path, which, encoding):
    """A chat RM gets a user and an assistant turn through its template; an encoder RM (DeBERTa-style) the two text
    segments of its tokenizer; a plain decoder prompt + response + EOS. The scorer's reward equals the model's own
    forward pass on that encoding."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from engine.ml.scorers import get_scorer, reward_encoding

    torch.manual_seed(0)
    folder = tmp_path / "rm"
    AutoModelForSequenceClassification.from_pretrained(chat_models[which], num_labels=1).save_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(chat_models[which])
    tok.save_pretrained(folder)
    scorer = get_scorer(f"reward_model:{folder}")
    prompt, response = "is it safe?", " yes it is safe."
    reward = scorer.score([prompt], [response])[0]
    model, loaded = scorer._load()
    assert reward_encoding(model, loaded) == encoding
    if encoding == "chat":
        turns = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
        enc = tok.apply_chat_template(turns, tokenize=True, return_dict=True, return_tensors="pt")
    elif encoding == "pair":
        enc = tok(prompt, response, return_tensors="pt")
        assert enc["token_type_ids"][0].tolist().count(1) > 0  # the response is the second segment
    else:
        enc = tok(prompt + response + tok.eos_token, return_tensors="pt")
    with torch.no_grad():
        ref = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32).eval()
        expected = ref(**enc).logits[0, 0].item()
    assert reward == pytest.approx(expected, abs=1e-4)
