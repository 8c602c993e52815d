"""ml.mos without Django: the split, training a few steps on CPU, the metrics, prediction."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from scipy.stats import pearsonr, spearmanr

from ml.common.checkpoint import CONFIG, WEIGHTS
from ml.config import TrainingError
from ml.mos.config import MosTrainConfig
from ml.mos.data import MosRecord, as_records, split_by_utterance
from ml.mos.model import MosNet, parameter_count
from ml.mos.predict import Predictor
from ml.mos.train import train

CPU = torch.device("cpu")
TINY = MosTrainConfig(epochs=3, batch_size=8, lr=3e-3, mc_samples=6, max_seconds=2.0, seed=5)
QUALITY = {"clean": 5.0, "light": 4.0, "noisy": 3.0, "harsh": 2.0, "broken": 1.0}


def synthetic_clip(quality: float, utterance: int, rate: int, rng) -> np.ndarray:
    """A voiced buzz (harmonics, syllable-like envelope) buried in more noise as quality drops,
    and clipped at the lowest levels: a listener (and a model) can hear the level."""
    t = np.arange(int(rate * (0.7 + 0.1 * utterance))) / rate
    f0 = 110 + 17 * utterance
    voice = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    voice *= 0.15 * (1.2 + np.sin(2 * np.pi * (3 + utterance % 3) * t))
    noisy = voice + rng.standard_normal(t.size) * 0.25 * (5.0 - quality) / 4.0
    limit = 1.0 if quality >= 3 else 0.1 * quality
    return np.clip(noisy, -limit, limit).astype(np.float32)


def synthetic_records(root: Path, utterances: int = 6, seed: int = 0) -> list[dict]:
    """5 systems × ``utterances`` clips as WAV files; every third one at 22.05 kHz."""
    rng = np.random.default_rng(seed)
    records = []
    for system, quality in QUALITY.items():
        for u in range(utterances):
            rate = 22050 if (u + len(records)) % 3 == 0 else 16000
            path = root / f"{system}-u{u}.wav"
            soundfile.write(path, synthetic_clip(quality, u, rate, rng), rate)
            records.append(
                {
                    "item_id": len(records) + 1,
                    "system": system,
                    "utterance_id": f"u{u}",
                    "audio": str(path),
                    "mos": float(np.clip(quality + rng.normal(0, 0.25), 1, 5)),
                    "n_votes": 8,
                }
            )
    return records


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[dict]:
    return synthetic_records(tmp_path_factory.mktemp("mos-clips"))


@pytest.fixture(scope="module")
def trained(clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("mos") / "artifact"
    seen: list[float] = []
    result = train(clips, TINY, CPU, lambda f, m: seen.append(f) or True, out)
    return result, seen


def test_the_split_holds_out_whole_utterances_seeded(clips):
    records = as_records(clips)
    train_a, test_a = split_by_utterance(records, test_fraction=0.34, seed=1)
    train_b, test_b = split_by_utterance(records, test_fraction=0.34, seed=1)
    assert (train_a, test_a) == (train_b, test_b)
    held_out = {r.utterance_id for r in test_a}
    assert len(held_out) == 2 and held_out.isdisjoint({r.utterance_id for r in train_a})
    assert len(test_a) == 2 * len(QUALITY) and {r.system for r in test_a} == set(QUALITY)


def test_unrated_clips_stay_out_of_both_sides_of_the_split(clips):
    records = as_records([{**r, "mos": None} if r["item_id"] % 2 else r for r in clips])
    train_set, test_set = split_by_utterance(records, test_fraction=0.5, seed=0)
    assert all(r.mos is not None for r in train_set + test_set)
    assert len(train_set) + len(test_set) == len(clips) // 2


def test_one_utterance_is_never_held_out_so_there_is_a_training_set(clips):
    records = as_records([r for r in clips if r["utterance_id"] == "u0"])
    train_set, test_set = split_by_utterance(records, test_fraction=0.9, seed=0)
    assert len(train_set) == len(QUALITY) and test_set == []


def test_the_default_model_is_small():
    defaults = MosTrainConfig()
    model = MosNet(defaults.n_mels, defaults.channels, defaults.hidden, defaults.dropout)
    assert parameter_count(model) <= 200_000


def test_a_clips_score_does_not_depend_on_what_it_is_batched_with():
    torch.manual_seed(0)
    model = MosNet(40).eval()
    short, long = torch.randn(50, 40), torch.randn(120, 40)
    alone = model(short[None], torch.ones(1, 50, dtype=torch.bool))[0]
    mask = torch.zeros(2, 120, dtype=torch.bool)
    mask[0, :50], mask[1] = True, True
    frames = torch.zeros(2, 120, 40)
    frames[0, :50], frames[1] = short, long
    batched = model(frames, mask)[0]
    assert batched[0].item() == pytest.approx(alone.item(), abs=1e-5)


def test_training_a_few_steps_lowers_the_training_loss(trained):
    result, seen = trained
    metrics = result.metrics
    assert metrics["final_train_loss"] < metrics["initial_train_loss"]
    assert len(result.epoch_losses) == TINY.epochs
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert metrics["n_train"] == result.snapshot["counts"]["train_clips"] == 25
    assert metrics["n_test"] == 5 and metrics["n_test_systems"] == 5


def test_clip_and_system_lcc_and_srcc_are_what_scipy_computes(trained, clips):
    result, _ = trained
    rows = result.test_predictions
    by_id = {r["item_id"]: r for r in clips}
    assert [r["item_id"] for r in rows] == result.snapshot["test_ids"]
    true = np.array([by_id[r["item_id"]]["mos"] for r in rows])
    pred = np.array([r["predicted_mos"] for r in rows])
    assert np.all((pred >= 1) & (pred <= 5))
    m = result.metrics
    assert m["utt_lcc"] == pytest.approx(pearsonr(true, pred).statistic, abs=1e-9)
    assert m["utt_srcc"] == pytest.approx(spearmanr(true, pred).statistic, abs=1e-9)
    assert m["utt_mse"] == pytest.approx(float(np.mean((true - pred) ** 2)), abs=1e-9)
    per_system: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row, t, p in zip(rows, true, pred, strict=True):
        per_system[by_id[row["item_id"]]["system"]].append((t, p))
    sys_true = [np.mean([t for t, _ in v]) for _, v in sorted(per_system.items())]
    sys_pred = [np.mean([p for _, p in v]) for _, v in sorted(per_system.items())]
    assert m["sys_lcc"] == pytest.approx(pearsonr(sys_true, sys_pred).statistic, abs=1e-9)
    assert m["sys_srcc"] == pytest.approx(spearmanr(sys_true, sys_pred).statistic, abs=1e-9)
    assert json.loads(json.dumps(m)) == m  # stored as JSON on the version


def test_the_checkpoint_describes_itself(trained):
    result, _ = trained
    config = json.loads((result.artifact_dir / CONFIG).read_text())
    assert (result.artifact_dir / WEIGHTS).exists()
    assert config["kind"] == "mos" and config["train_config"]["seed"] == TINY.seed
    assert config["features"]["n_mels"] == TINY.n_mels and config["mos_range"] == [1.0, 5.0]


def test_predict_gives_one_row_per_clip_with_a_finite_uncertainty(trained, clips):
    result, _ = trained
    new_system = [
        {**r, "item_id": 100 + i, "system": "unrated", "mos": None} for i, r in enumerate(clips[:3])
    ]
    records = clips + new_system
    predictor = Predictor(result.artifact_dir, CPU)
    first = predictor.predict(records)
    assert len(first) == len(records)
    for out in first:
        assert 1.0 <= out.predicted_mos <= 5.0
        assert math.isfinite(out.std) and out.std >= 0
    assert any(out.std > 0 for out in first)  # dropout was on for the MC passes
    assert predictor.predict(records) == first  # seeded: the same figures again
    test_ids = set(result.snapshot["test_ids"])
    from_training = {r["item_id"]: r["predicted_mos"] for r in result.test_predictions}
    for record, out in zip(records, first, strict=True):
        if record["item_id"] in test_ids:
            assert out.predicted_mos == pytest.approx(from_training[record["item_id"]], abs=1e-5)


def test_an_unreadable_clip_is_named_in_the_error(clips, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave")
    records = [*clips[:4], {**clips[4], "audio": str(broken)}]
    with pytest.raises(TrainingError, match=f"item {clips[4]['item_id']} "):
        train(records, TINY, CPU, None, tmp_path / "out")


def test_no_rated_clip_is_a_clear_training_error(clips, tmp_path):
    with pytest.raises(TrainingError, match="none of the 3 clips has a vote"):
        train([{**r, "mos": None} for r in clips[:3]], TINY, CPU, None, tmp_path / "out")


def test_the_config_refuses_unknown_and_out_of_range_settings():
    with pytest.raises(TrainingError, match="Unknown training setting"):
        MosTrainConfig.from_dict({"epoch": 3})
    with pytest.raises(TrainingError, match="mc_samples"):
        MosTrainConfig.from_dict({"mc_samples": 1})
    assert MosTrainConfig.from_dict({}).to_dict() == MosTrainConfig().to_dict()


def test_records_parse_from_exported_json():
    record = MosRecord.from_mapping(
        {"item_id": "7", "system": "s", "utterance_id": "u", "audio": "/a.wav", "mos": "nan"}
    )
    assert record.item_id == 7 and record.mos is None and record.n_votes == 0
