"""ml/ without Django: encoder loading, checkpoints, the split, training and prediction on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ml.common import (
    EncoderUnavailable,
    TrainingError,
    default_encoder_path,
    load_encoder,
    pick_device,
)
from ml.common.checkpoint import CONFIG, WEIGHTS
from ml.humor.data import HumorRecord, split_records, to_examples
from ml.humor.predict import Predictor, uncertainty
from ml.humor.synthetic import synthetic_posts
from ml.humor.train import HumorTrainConfig, train

CPU = torch.device("cpu")
TINY = HumorTrainConfig(epochs=1, batch_size=16, max_length=32, lr=5e-5, max_samples=96)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("humor") / "artifact"
    seen: list[float] = []
    result = train(synthetic_posts(150), TINY, CPU, lambda f, m: seen.append(f) or True, out)
    return result, seen


def test_the_default_encoder_is_the_minilm_shipped_on_disk():
    path = default_encoder_path()
    assert path.name == "model" and (path / "model.safetensors").exists()
    tokenizer, model = load_encoder("")
    assert model.config.hidden_size == 384 and tokenizer("hi")["input_ids"]


def test_an_encoder_that_is_not_on_disk_fails_with_a_clear_message(tmp_path):
    with pytest.raises(EncoderUnavailable, match="'no-such-org/nothing' cannot be loaded offline"):
        load_encoder("no-such-org/nothing")
    with pytest.raises(EncoderUnavailable, match="cannot be loaded offline"):
        load_encoder(str(tmp_path))


def test_the_device_is_cpu_here_and_a_missing_cuda_is_refused():
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert pick_device().type == "cpu"
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            pick_device("cuda")


def test_the_split_is_80_20_seeded_and_respects_given_splits():
    records = [HumorRecord.from_mapping(p) for p in synthetic_posts(100)]
    train_a, test_a = split_records(records, test_fraction=0.2, seed=1)
    train_b, test_b = split_records(records, test_fraction=0.2, seed=1)
    assert (len(train_a), len(test_a)) == (80, 20) and test_a == test_b and train_a == train_b
    given = [HumorRecord.from_mapping(p) for p in synthetic_posts(50, with_split=True)]
    train_c, test_c = split_records(given, test_fraction=0.2, seed=1)
    assert {r.item_id for r in test_c} == {r.item_id for r in given if r.split == "test"}


def test_binary_examples_need_a_label_and_continuous_ones_need_hs():
    records = [
        HumorRecord(1, "a", hs=0.9, reaction_label="humorous"),
        HumorRecord(2, "b", hs=None, reaction_label="non_humorous"),
        HumorRecord(3, "c", hs=0.1, reaction_label=None, human_label="yes"),
    ]
    assert [e.item_id for e in to_examples(records, target="binary", label_source="reaction")] == [
        1,
        2,
    ]
    assert [e.item_id for e in to_examples(records, target="binary", label_source="both")] == [
        1,
        2,
        3,
    ]
    assert [
        e.item_id for e in to_examples(records, target="continuous", label_source="reaction")
    ] == [1, 3]


def test_a_bad_config_is_refused_by_name():
    with pytest.raises(TrainingError, match="Unknown training setting"):
        HumorTrainConfig.from_dict({"epocs": 3})
    with pytest.raises(TrainingError, match="target must be one of"):
        HumorTrainConfig.from_dict({"target": "ordinal"})


def test_an_empty_training_set_fails_before_loading_anything(tmp_path):
    posts = [{**p, "reaction_label": None} for p in synthetic_posts(20)]
    with pytest.raises(TrainingError, match="Empty training set"):
        train(posts, TINY, CPU, None, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_training_reports_progress_and_writes_a_self_describing_checkpoint(trained):
    result, seen = trained
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    assert (result.artifact_dir / WEIGHTS).exists()
    config = json.loads((result.artifact_dir / CONFIG).read_text())
    assert config["train_config"]["epochs"] == 1 and config["num_outputs"] == 2
    assert (result.artifact_dir / "encoder" / "config.json").exists()
    assert result.snapshot["counts"]["train_examples"] == 96  # capped by max_samples
    assert result.metrics["n_test"] == 30 and result.metrics["f1"] is not None
    # The synthetic classes use different words: one epoch already separates them.
    assert result.metrics["auc"] > 0.9


def test_a_progress_callback_that_says_stop_cancels_the_run(tmp_path):
    from ml.common import Cancelled

    with pytest.raises(Cancelled):
        train(synthetic_posts(60), TINY, CPU, lambda f, m: f < 0.3, tmp_path / "out")


def test_prediction_from_the_checkpoint_alone_matches_the_trained_model(trained):
    result, _ = trained
    posts = synthetic_posts(10, seed=99)
    predictor = Predictor(Path(result.artifact_dir), CPU)
    out = predictor.predict([p["text"] for p in posts], batch_size=4)
    assert len(out) == 10
    assert (
        sum(o.funny == (p["reaction_label"] == "humorous") for o, p in zip(out, posts, strict=True))
        >= 8
    )
    again = Predictor(Path(result.artifact_dir), CPU).predict([p["text"] for p in posts])
    assert [o.p_humorous for o in out] == pytest.approx([o.p_humorous for o in again], abs=1e-5)
    for o in out:
        assert (o.entropy, o.margin) == pytest.approx(uncertainty(o.p_humorous))


def test_the_same_seed_gives_the_same_model(tmp_path):
    config = HumorTrainConfig(epochs=1, batch_size=8, max_length=24, max_samples=24, seed=5)
    posts = synthetic_posts(40)
    a = train(posts, config, CPU, None, tmp_path / "a")
    b = train(posts, config, CPU, None, tmp_path / "b")
    assert a.metrics["final_train_loss"] == pytest.approx(b.metrics["final_train_loss"], rel=1e-5)
    assert a.snapshot == b.snapshot


def test_the_continuous_model_regresses_hs_and_reports_f1_auc_after_thresholding(tmp_path):
    config = HumorTrainConfig(target="continuous", epochs=1, batch_size=16, max_length=32, lr=1e-4)
    result = train(synthetic_posts(120), config, CPU, None, tmp_path / "c")
    assert {"f1", "auc", "mse", "pearson_r", "threshold_hs"} <= set(result.metrics)
    assert 0.3 < result.metrics["threshold_hs"] < 0.7
    out = Predictor(tmp_path / "c", CPU).predict(["lol my cat just stole my seat again"])
    assert out[0].hs is not None and 0 <= out[0].p_humorous <= 1


def test_uncertainty_is_highest_at_a_coin_flip():
    assert uncertainty(0.5) == pytest.approx((1.0, 1.0))
    assert uncertainty(0.99)[0] < uncertainty(0.7)[0] < uncertainty(0.5)[0]
    assert uncertainty(1.0)[1] == pytest.approx(0.0, abs=1e-9)
