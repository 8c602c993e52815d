"""Integrated Gradients and attention rollout on a tiny humor model that learned one word.

The model is the humor :class:`EncoderHead` over a 2-layer, 32-wide BERT with the bundled
MiniLM tokenizer (real WordPiece, so "haha" is two tokens), trained for a few seconds on
posts that are funny exactly when they contain "haha".
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.common import default_encoder_path, save_checkpoint
from ml.explain_text import faithfulness, split_words, top_k_tokens
from ml.explain_text.attributions import (
    attention_rollout,
    baseline_ids,
    integrated_gradients,
    merge_subtokens,
    proba_fn,
    rollout,
)
from ml.explain_text.toy import toy_model, toy_posts
from ml.humor.predict import Predictor


def _posts(rng: random.Random, n: int) -> list[tuple[str, int]]:
    return toy_posts(rng, n)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(default_encoder_path(), local_files_only=True)


@pytest.fixture(scope="module")
def model(tokenizer):
    return toy_model(tokenizer)


def _p_humorous(model, ids: torch.Tensor) -> float:
    with torch.no_grad():
        return model(ids, torch.ones_like(ids)).softmax(-1)[0, 1].item()


def test_ig_word_scores_add_up_to_the_output_difference_from_the_pad_baseline(model, tokenizer):
    text = "my cat haha stole the seat"
    result = integrated_gradients(model, tokenizer, text, n_steps=50)
    # f(x) and f(baseline) computed here, with the baseline built by hand: [CLS] PAD… [SEP].
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    reference = ids.clone()
    reference[0, 1:-1] = tokenizer.pad_token_id
    f_x, f_ref = _p_humorous(model, ids), _p_humorous(model, reference)
    assert f_x - f_ref > 0.5  # the model learned "haha": a real difference to explain
    assert result.output == pytest.approx(f_x, abs=1e-5)
    assert result.baseline_output == pytest.approx(f_ref, abs=1e-5)
    assert sum(result.scores) == pytest.approx(f_x - f_ref, abs=1e-2)
    assert abs(result.delta) < 1e-2
    # Special tokens are identical in input and baseline, so they carry nothing.
    assert sum(result.token_scores) == pytest.approx(sum(result.scores), abs=1e-6)


def test_ig_completeness_holds_for_the_logit_and_the_mask_baseline(model, tokenizer):
    text = "budget road council haha"
    result = integrated_gradients(
        model, tokenizer, text, n_steps=64, baseline="mask", output="logit"
    )
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    reference = ids.clone()
    reference[0, 1:-1] = tokenizer.mask_token_id
    with torch.no_grad():
        f_x = model(ids, torch.ones_like(ids))[0, 1].item()
        f_ref = model(reference, torch.ones_like(ids))[0, 1].item()
    assert abs(f_x - f_ref) > 0.1
    assert sum(result.scores) == pytest.approx(f_x - f_ref, rel=1e-2, abs=1e-3)


def test_ig_puts_the_most_credit_on_the_word_the_model_learned(model, tokenizer):
    for text in ["my cat haha stole the seat", "budget road council haha", "haha the plant"]:
        result = integrated_gradients(model, tokenizer, text, n_steps=32)
        best = top_k_tokens(result.scores, 1)[0]
        assert result.words[best].text == "haha", (text, result.scores)


def test_a_word_split_into_pieces_gets_the_sum_of_its_pieces_and_its_own_offsets(model, tokenizer):
    text = "Unbelievably  hilarious café haha!! it's ok"
    result = integrated_gradients(model, tokenizer, text, n_steps=8)
    assert [w.text for w in result.words] == [
        "Unbelievably",
        "hilarious",
        "café",
        "haha",
        "!!",
        "it's",
        "ok",
    ]
    for word in result.words:
        assert text[word.start : word.end] == word.text
    assert (result.words[0].start, result.words[0].end) == (0, 12)
    assert (result.words[2].start, result.words[2].end) == (24, 28)
    pieces = [t for t, w in zip(result.tokens, result.token_words, strict=True) if w == 0]
    assert pieces == ["un", "##bel", "##ie", "##va", "##bly"]
    assert [t for t, w in zip(result.tokens, result.token_words, strict=True) if w == 3] == [
        "ha",
        "##ha",
    ]
    # The uncased tokenizer strips the accent, yet the offsets still point at "café".
    assert [t for t, w in zip(result.tokens, result.token_words, strict=True) if w == 2] == ["cafe"]
    assert result.token_words[0] is None and result.token_words[-1] is None
    for word in result.words:
        expected = sum(
            s
            for s, w in zip(result.token_scores, result.token_words, strict=True)
            if w == word.index
        )
        assert result.scores[word.index] == pytest.approx(expected, abs=1e-9)


def test_merge_subtokens_sums_by_word_and_drops_special_tokens():
    assert merge_subtokens([9.0, 0.5, 0.25, 1.0, 9.0], [None, 0, 0, 2, None], 3) == [
        0.75,
        0.0,
        1.0,
    ]


def test_the_baseline_keeps_special_tokens_and_replaces_the_rest(tokenizer):
    enc = tokenizer("haha ok", return_special_tokens_mask=True, return_tensors="pt")
    special = enc["special_tokens_mask"][0].bool()
    ref = baseline_ids(enc["input_ids"], special, tokenizer, "mask")[0].tolist()
    assert ref[0] == tokenizer.cls_token_id and ref[-1] == tokenizer.sep_token_id
    assert set(ref[1:-1]) == {tokenizer.mask_token_id}
    with pytest.raises(ValueError, match="baseline must be one of"):
        baseline_ids(enc["input_ids"], special, tokenizer, "zeros")


def test_a_text_longer_than_max_length_is_marked_truncated(model, tokenizer):
    text = " ".join(["cat"] * 20)
    result = integrated_gradients(model, tokenizer, text, n_steps=4, max_length=8)
    assert result.truncated and len(result.scores) == 20
    assert all(s == 0.0 for s in result.scores[6:])
    assert not integrated_gradients(model, tokenizer, "my cat", n_steps=4).truncated


def test_rollout_rows_sum_to_one_and_match_a_hand_computation():
    rng = np.random.default_rng(3)
    layers = []
    for _ in range(3):
        a = rng.random((2, 4, 4))
        layers.append(a / a.sum(-1, keepdims=True))
    result = rollout(layers)
    np.testing.assert_allclose(result.sum(axis=1), np.ones(4), atol=1e-12)
    # Independently: Â_l = (mean_h A + I) / 2 (rows already sum to 1), R = Â_3 Â_2 Â_1.
    hats = [(layer.mean(0) + np.eye(4)) / 2 for layer in layers]
    np.testing.assert_allclose(result, hats[2] @ hats[1] @ hats[0], atol=1e-12)


def test_attention_rollout_on_the_model_is_a_distribution_and_leaves_sdpa_on(model, tokenizer):
    text = "my cat haha stole the seat"
    result = attention_rollout(model, tokenizer, text)
    assert result.method == "attention_rollout" and len(result.scores) == 6
    assert sum(result.token_scores) == pytest.approx(1.0, abs=1e-6)
    assert all(s >= 0 for s in result.token_scores)
    specials = result.token_scores[0] + result.token_scores[-1]
    assert sum(result.scores) == pytest.approx(1.0 - specials, abs=1e-6)
    assert model.encoder.config._attn_implementation == "sdpa"
    mean_row = attention_rollout(model, tokenizer, text, row="mean")
    assert sum(mean_row.token_scores) == pytest.approx(1.0, abs=1e-6)
    assert mean_row.scores != result.scores


def test_the_model_needs_the_haha_rationale_and_proba_fn_feeds_eraser(model, tokenizer):
    texts = ["my cat haha stole the seat", "budget road council haha"]
    haha = [[i for i, w in enumerate(split_words(t)) if w.text == "haha"] for t in texts]
    others = [[i for i, w in enumerate(split_words(t)) if w.text != "haha"] for t in texts]
    predict_proba = proba_fn(model, tokenizer, max_length=32)
    assert predict_proba(texts).shape == (2, 2)
    with_haha = faithfulness(predict_proba, texts, haha, target=1)
    without = faithfulness(predict_proba, texts, others, target=1)
    assert with_haha.comprehensiveness > 0.5 > abs(with_haha.sufficiency)
    assert abs(without.comprehensiveness) < 0.1 and without.sufficiency > 0.5


def test_attributions_run_on_a_model_loaded_from_a_humor_checkpoint(model, tokenizer, tmp_path):
    out: Path = tmp_path / "artifact"
    save_checkpoint(
        out, model, {"kind": "humor", "num_outputs": 2, "train_config": {"max_length": 32}}
    )
    model.encoder.config.save_pretrained(out / "encoder")
    tokenizer.save_pretrained(out / "encoder")
    predictor = Predictor(out, torch.device("cpu"))
    text = "budget road council haha"
    loaded = integrated_gradients(
        predictor.model, predictor.tokenizer, text, n_steps=16, max_length=predictor.max_length
    )
    direct = integrated_gradients(model, tokenizer, text, n_steps=16)
    np.testing.assert_allclose(loaded.scores, direct.scores, atol=1e-5)
    assert loaded.to_dict()["words"][3] == {"index": 3, "text": "haha", "start": 20, "end": 24}
