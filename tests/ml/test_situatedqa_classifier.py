"""The SituatedQA context classifier on CPU: data rules, training, metrics, prediction, errors.

One MiniLM is loaded for the session and its embedding cache shared, so each training run
after the first costs a second or two; runs use a few hundred official questions.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from ml.common import Cancelled, TrainingError
from ml.common.checkpoint import WEIGHTS
from ml.situatedqa import formats as F
from ml.situatedqa.config import ContextTrainConfig
from ml.situatedqa.data import (
    DATA_DIR,
    LABELS,
    official_examples,
    text_key,
    training_set,
)
from ml.situatedqa.model import Embedder
from ml.situatedqa.predict import Predictor, normalised_entropy, uncertain_first
from ml.situatedqa.train import class_weights, train

from .situatedqa_data import FULL

CPU = torch.device("cpu")
# Unweighted loss: on 300 questions it buys accuracy (the baseline's strength) over macro-F1.
SMALL = ContextTrainConfig(
    max_official_rows=300, max_dev_rows=150, epochs=15, seed=3, class_weights="none"
)
# A few project questions, and no official data: trains in a blink on cached embeddings.
TINY = ContextTrainConfig(official_data=False, max_dev_rows=10, epochs=60, lr=1e-2, seed=1)
PROJECT = [
    {"text": "who is the current president of the united states", "label": "temporal"},
    {"text": "who won the most recent world cup", "label": "temporal"},
    {"text": "what is the latest iphone model", "label": "temporal"},
    {"text": "how many legs does a spider have", "label": "neither"},
    {"text": "what is the chemical symbol for gold", "label": "neither"},
    {"text": "who wrote pride and prejudice", "label": "neither"},
]
PROBE = "what is the minimum wage"


@pytest.fixture(scope="session")
def embedder():
    return Embedder.load("", CPU, max_length=SMALL.max_length)


@pytest.fixture(scope="module")
def small_run(embedder, tmp_path_factory):
    seen: list[float] = []
    out = tmp_path_factory.mktemp("sqa") / "small"
    result = train([], SMALL, CPU, lambda f, m: seen.append(f) or True, out, embedder=embedder)
    return result, seen


def _predict(directory: Path, texts, embedder=None):
    records = [{"key": i, "text": t} for i, t in enumerate(texts)]
    return Predictor(directory, CPU, embedder=embedder).predict(records)


# ------------------------------------------------------------------------------ data rules


def _write(directory: Path, name: str, rows: list[dict]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def _temp(question: str, dependent: str, id: int = 1) -> dict:
    return {
        "question": question,
        "source_dataset": "nq_table.open",
        "is_dependent": dependent,
        "id": id,
    }


def _geo(question: str, dependent: str, id: int = 1) -> dict:
    return {"question": question, "is_dependent": dependent, "id": id}


def test_two_files_make_three_classes_and_a_question_dependent_on_both_is_left_out(tmp_path):
    temp = [
        _temp("when did it last snow", "yes"),
        _temp("who is the mayor", "yes"),
        _temp("what is 2 plus 2", "no"),
        _temp("Who Won  the Cup", "yes"),
        _temp("what is water made of", "no"),
        _temp("when did it last snow", "no"),  # a repeated line: its earlier "yes" stands
    ]
    # Same id as a temporal line but another text: ids are not what makes two questions one.
    geo = [
        _geo("who is the mayor", "no"),
        _geo("what is 2 plus 2", "no"),
        _geo("who won the cup", "yes"),
        _geo("what side of the road do we drive on", "yes"),
    ]
    _write(tmp_path, "temp.train.jsonl", temp)
    _write(tmp_path, "geo.train.jsonl", geo)
    examples, both = official_examples("train", tmp_path)
    assert [(e.text, e.label) for e in examples] == [
        ("when did it last snow", "temporal"),
        ("who is the mayor", "temporal"),
        ("what is 2 plus 2", "neither"),
        ("what is water made of", "neither"),
        ("what side of the road do we drive on", "geographic"),
    ]
    assert both == 1  # "Who Won  the Cup" / "who won the cup": yes in both files


def test_the_shipped_files_are_the_release_and_give_the_documented_counts():
    counts = {}
    for split in ("train", "dev"):
        examples, both = official_examples(split)
        counts[split] = {label: sum(e.label == label for e in examples) for label in LABELS}
        assert both == 0
    # train: 4,438 temporal + 1,149 geographic lines, one text in both files ("no" twice).
    assert counts["train"] == {"temporal": 1591, "geographic": 527, "neither": 2847 + 622 - 1}
    assert counts["dev"] == {"temporal": 840, "geographic": 369, "neither": 1766 + 510}
    for path in FULL.glob("id_data/*.jsonl") if FULL.exists() else []:
        shipped = DATA_DIR / (path.name + ".gz")
        if shipped.exists():
            assert gzip.decompress(shipped.read_bytes()) == path.read_bytes(), path.name


def test_a_gzipped_path_reads_as_the_plain_file_and_a_damaged_one_is_named(tmp_path):
    plain = tmp_path / "geo.dev.jsonl"
    _write(tmp_path, plain.name, [_geo("who is the mayor", "yes", 7)])
    packed = tmp_path / "geo.dev.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert F.read_official(packed, layout="id", variant="geo") == F.read_official(
        plain, layout="id", variant="geo"
    )
    packed.write_bytes(packed.read_bytes()[:-6])
    with pytest.raises(
        F.FormatError, match=r"geo\.dev\.jsonl\.gz: 1 bad line:\n  line 1: a damaged gzip"
    ):
        F.read_official(packed, layout="id", variant="geo")


def test_a_project_label_replaces_the_official_one_and_its_dev_question_is_not_scored():
    train_examples, _ = official_examples("train")
    dev_examples, _ = official_examples("dev")
    official = train_examples[0]
    other = next(label for label in LABELS if label != official.label)
    taught_dev = dev_examples[5]
    records = [
        {"text": "  " + official.text.upper(), "label": other},  # case and spaces ignored
        {"text": taught_dev.text, "label": taught_dev.label},
    ]
    data = training_set(records, seed=0)
    labels_of = {text_key(e.text): (e.label, e.source) for e in data.train}
    assert labels_of[text_key(official.text)] == (other, "project")
    assert sum(text_key(e.text) == text_key(official.text) for e in data.train) == 1
    assert text_key(taught_dev.text) not in {text_key(e.text) for e in data.dev}
    assert data.counts["official_train_replaced_by_project"] == 1
    assert data.counts["dev_taught_by_project"] == 1
    assert data.counts["dev_scored"] == len(dev_examples) - 1
    assert len(data.train) == len(train_examples) - 1 + 2


def test_the_caps_draw_seeded_subsets_and_the_dev_subset_is_stable_as_labels_arrive():
    a = training_set([], max_official_rows=50, max_dev_rows=40, seed=4)
    b = training_set([], max_official_rows=50, max_dev_rows=40, seed=4)
    c = training_set([], max_official_rows=50, max_dev_rows=40, seed=5)
    assert a.train == b.train and len(a.train) == 50 and len(a.dev) == 40
    assert a.train != c.train
    taught = training_set(
        [{"text": a.dev[0].text, "label": "neither"}],
        max_official_rows=50,
        max_dev_rows=40,
        seed=4,
    )
    assert taught.dev == a.dev[1:]


# ----------------------------------------------------------------------------- training


def test_training_lowers_the_loss_and_beats_the_majority_class_on_dev(small_run):
    result, seen = small_run
    m = result.metrics
    assert m["n_train"] == 300 and m["n_test"] == 150
    assert m["final_train_loss"] < 0.5 * m["initial_train_loss"]
    assert result.epoch_losses[-1] < result.epoch_losses[0]
    assert m["majority_label"] == "neither"
    assert m["accuracy"] > m["majority_accuracy"]
    assert m["macro_f1"] > m["majority_macro_f1"] + 0.2
    assert all(m[f"f1_{label}"] > 0.3 for label in LABELS)
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_a_run_is_deterministic_for_its_seed(small_run, embedder, tmp_path):
    first, _ = small_run
    again = train([], SMALL, CPU, None, tmp_path / "again", embedder=embedder)
    assert again.metrics == first.metrics
    assert again.dev_predictions == first.dev_predictions
    weights = (first.artifact_dir / WEIGHTS).read_bytes()
    assert (tmp_path / "again" / WEIGHTS).read_bytes() == weights
    runs = [
        train(
            PROJECT,
            ContextTrainConfig(**{**TINY.to_dict(), "seed": seed}),
            CPU,
            None,
            tmp_path / str(seed),
            embedder=embedder,
        )
        for seed in (1, 1, 2)
    ]
    tiny = [(tmp_path / str(seed) / WEIGHTS).read_bytes() for seed in (1, 2)]
    assert runs[0].dev_predictions == runs[1].dev_predictions and tiny[0] != tiny[1]


def test_balanced_class_weights_give_each_class_the_same_total_weight():
    examples = training_set(
        PROJECT + [{"text": PROBE, "label": "geographic"}], official=False
    ).train
    weights = class_weights(examples, "balanced")
    counts = np.array([sum(e.label == label for e in examples) for label in LABELS])
    assert (weights.numpy() * counts) == pytest.approx([len(examples) / 3] * 3)
    assert class_weights(examples, "none") is None
    no_geo = class_weights(training_set(PROJECT, official=False).train, "balanced")
    assert no_geo.tolist() == pytest.approx([6 / 9, 0.0, 6 / 9])  # n / (3 · n_class), 0 if absent


def test_the_dev_metrics_match_a_numpy_recount_of_the_predictions(small_run):
    result, _ = small_run
    gold = np.array([p["label"] for p in result.dev_predictions])
    predicted = np.array([p["predicted"] for p in result.dev_predictions])
    probs = np.array(
        [[p["probabilities"][label] for label in LABELS] for p in result.dev_predictions]
    )
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (np.array(LABELS)[probs.argmax(1)] == predicted).all()
    m = result.metrics
    assert m["accuracy"] == pytest.approx(np.mean(gold == predicted))
    f1s = []
    for label in LABELS:
        tp = np.sum((gold == label) & (predicted == label))
        fp = np.sum((gold != label) & (predicted == label))
        fn = np.sum((gold == label) & (predicted != label))
        f1 = 2 * tp / (2 * tp + fp + fn)
        assert m[f"f1_{label}"] == pytest.approx(f1)
        assert m["confusion"][label] == {
            p: int(np.sum((gold == label) & (predicted == p))) for p in LABELS
        }
        f1s.append(f1)
    assert m["macro_f1"] == pytest.approx(np.mean(f1s))
    assert m["majority_accuracy"] == pytest.approx(np.mean(gold == "neither"))
    neither_f1 = 2 * np.sum(gold == "neither") / (np.sum(gold == "neither") + len(gold))
    assert m["majority_macro_f1"] == pytest.approx(neither_f1 / 3)


# ---------------------------------------------------------------------------- prediction


def test_the_checkpoint_predicts_what_training_scored_and_orders_uncertain_first(
    small_run, embedder
):
    result, _ = small_run
    dev = result.dev_predictions[:40]
    predictions = _predict(result.artifact_dir, [p["text"] for p in dev], embedder)
    assert [p.key for p in predictions] == list(range(40))
    for prediction, scored in zip(predictions, dev, strict=True):
        probs = np.array([prediction.probabilities[label] for label in LABELS])
        assert probs == pytest.approx(
            [scored["probabilities"][label] for label in LABELS], abs=1e-5
        )
        assert prediction.label == scored["predicted"] == LABELS[int(probs.argmax())]
        assert prediction.uncertainty == pytest.approx(-(probs * np.log(probs)).sum() / math.log(3))
        assert prediction.confidence == pytest.approx(probs.max())
    ordered = uncertain_first(predictions)
    assert [p.uncertainty for p in ordered] == sorted(
        (p.uncertainty for p in predictions), reverse=True
    )
    assert ordered[0].uncertainty > ordered[-1].uncertainty
    assert normalised_entropy([1 / 3] * 3) == pytest.approx(1.0)
    assert normalised_entropy([1.0, 0.0, 0.0]) == 0.0


def test_a_project_label_flips_a_prediction_on_a_tiny_set(embedder, tmp_path):
    # Records shaped as the trainer passes them: item ids, and unlabelled items (skipped).
    records = [{"item_id": i, **r} for i, r in enumerate(PROJECT)]
    probe = {"item_id": 99, "text": PROBE, "label": None}
    before = train(records + [probe], TINY, CPU, None, tmp_path / "before", embedder=embedder)
    [guess] = Predictor(tmp_path / "before", CPU, embedder=embedder).predict([probe])
    assert guess.key == 99 and guess.label != "geographic"
    taught = records + [
        {"item_id": 99, "text": PROBE, "label": "geographic"},
        {"item_id": 100, "text": "what side of the road do we drive on", "label": "geographic"},
    ]
    after = train(taught, TINY, CPU, None, tmp_path / "after", embedder=embedder)
    [guess] = Predictor(tmp_path / "after", CPU, embedder=embedder).predict([probe])
    assert guess.label == "geographic"
    assert before.snapshot["counts"]["project_unlabelled"] == 1
    assert before.snapshot["counts"]["train_geographic"] == 0
    assert after.snapshot["counts"]["train_geographic"] == 2
    assert after.metrics["n_train"] == before.metrics["n_train"] + 2 == len(taught)


def test_fine_tuning_trains_a_copy_of_the_encoder_and_its_checkpoint_stands_alone(
    embedder, tmp_path
):
    config = ContextTrainConfig(
        finetune=True, max_official_rows=16, max_dev_rows=4, epochs=1, batch_size=8, hidden=0
    )
    shared = next(embedder.model.parameters()).detach().clone()
    result = train([], config, CPU, None, tmp_path / "tuned", embedder=embedder)
    assert torch.equal(next(embedder.model.parameters()), shared)
    with safe_open(str(tmp_path / "tuned" / WEIGHTS), "pt") as weights:
        keys = list(weights.keys())
        tuned = [k for k in keys if k.startswith("encoder.")]
        assert tuned and any(k.startswith("head.") for k in keys)
        first = tuned[0]
        assert not torch.equal(weights.get_tensor(first), embedder.model.state_dict()[first[8:]])
    assert result.metrics["finetuned"] is True and result.metrics["n_test"] == 4
    predictions = _predict(tmp_path / "tuned", [p["text"] for p in result.dev_predictions])
    for prediction, scored in zip(predictions, result.dev_predictions, strict=True):
        assert prediction.probabilities == pytest.approx(scored["probabilities"], abs=1e-5)


# ------------------------------------------------------------------------------- errors


def test_bad_records_raise_a_training_error_naming_each(tmp_path):
    records = [
        {"item_id": 7, "text": "who is the mayor", "label": "time"},
        {"text": "   ", "label": "neither"},
        {"label": "temporal"},
        "who is the mayor",
        {"text": "who is the mayor", "label": ["neither"]},
        {"text": "who is the mayor"},  # not labelled yet: no problem, skipped
    ]
    with pytest.raises(TrainingError) as caught:
        train(records, TINY, CPU, None, tmp_path / "bad")
    message = str(caught.value)
    assert message.startswith("5 bad training records:")
    assert (
        'record 1 (item id 7): "label" must be one of temporal, geographic, neither or null, '
        "not 'time'" in message
    )
    assert 'record 2: "text" must be a non-empty string' in message
    assert 'record 3: missing "text"' in message
    assert "record 4: must be an object with text and label" in message
    assert (
        "record 5: \"label\" must be one of temporal, geographic, neither or null, not ['neither']"
        in message
    )
    assert "record 6" not in message
    assert not (tmp_path / "bad").exists()


def test_one_class_no_data_and_bad_settings_are_refused(tmp_path):
    with pytest.raises(TrainingError, match="all 'temporal'.*at least two"):
        train(PROJECT[:3], TINY, CPU, None, tmp_path / "x")
    with pytest.raises(TrainingError, match="Nothing to train on"):
        train([], TINY, CPU, None, tmp_path / "x")
    with pytest.raises(TrainingError, match="class_weights must be one of balanced, none"):
        ContextTrainConfig.from_dict({"class_weights": "inverse"})
    with pytest.raises(TrainingError, match="Unknown training setting"):
        ContextTrainConfig.from_dict({"epoch": 3})


def test_prediction_records_without_text_are_named(small_run, embedder):
    predictor = Predictor(small_run[0].artifact_dir, CPU, embedder=embedder)
    with pytest.raises(
        TrainingError,
        match=r'2 bad prediction records:\n  record 2 \(key b\): "text" must be a non-empty string\n  record 3: missing "text"',
    ):
        predictor.predict([{"key": "a", "text": "who is the mayor"}, {"key": "b", "text": ""}, {}])


def test_a_run_stops_when_its_job_is_cancelled(embedder, tmp_path):
    with pytest.raises(Cancelled):
        train(PROJECT, TINY, CPU, lambda f, m: f < 0.6, tmp_path / "cancelled", embedder=embedder)
