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
