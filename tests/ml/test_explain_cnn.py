"""The CAM classifier on CPU: exact CAMs, a few seconds of training, localisation above baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.common.checkpoint import CONFIG, WEIGHTS
from ml.config import TrainingError
from ml.explain.cnn import CamNet, cam, fit, load, predict_proba, to_tensor, train
from ml.explain.config import ExplainCnnConfig
from ml.explain.data import generate
from ml.explain.saliency import normalise
from ml.explain.wsol import max_box_acc, max_box_acc_v2

CPU = torch.device("cpu")
TINY = ExplainCnnConfig(
    n_train=240, n_test=60, epochs=3, image_size=48, width=8, lr=0.01, batch_size=32, seed=1
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cam")
    return train(TINY, CPU, out_dir=out)


@pytest.fixture(scope="module")
def test_set():
    return generate("test", TINY.n_test, seed=TINY.seed, size=48, num_classes=TINY.num_classes)


def test_the_cam_is_exact_its_mean_plus_the_bias_is_the_logit():
    torch.manual_seed(0)
    model = CamNet(num_classes=3, width=4).eval()
    x = torch.randn(5, 3, 20, 20)
    ids = torch.tensor([0, 2, 1, 1, 0])
    with torch.no_grad():
        logits = model(x)
        maps = model.class_maps(x, ids)
    assert maps.shape == (5, 5, 5)  # stride 4
    expected = logits[torch.arange(5), ids]
    torch.testing.assert_close(maps.mean(dim=(1, 2)) + model.classifier.bias[ids], expected)


def test_training_learns_the_classes(trained):
    losses = trained.epoch_losses
    assert len(losses) == 3 and losses[-1] < 0.7 * losses[0]
    assert trained.metrics["accuracy"] > 0.5  # chance is 0.25
    assert (trained.artifact_dir / WEIGHTS).is_file() and (trained.artifact_dir / CONFIG).is_file()
    assert trained.snapshot == {
        "generator": {"seed": 1, "size": 48, "num_classes": 4},
        "n_train": 240,
        "n_test": 60,
    }


def test_its_cams_localise_better_than_a_uniform_and_a_centred_map(trained, test_set):
    model = load(trained.artifact_dir, CPU)
    images = [s.image for s in test_set]
    labels = [s.label for s in test_set]
    maps = cam(model, images, labels)
    assert maps.shape == (60, 48, 48) and maps.dtype == np.float32
    boxes = [[s.box] for s in test_set]
    uniform = [normalise(np.ones((48, 48)), "minmax")] * len(test_set)
    uniform_acc = max_box_acc(uniform, boxes)
    for method in ("minmax", "ivr"):
        normalised = [normalise(m, method) for m in maps]
        acc = max_box_acc(normalised, boxes)
        assert acc > uniform_acc + 30
        assert acc == trained.metrics["normalisations"][method]["max_box_acc"]
        assert (
            max_box_acc_v2(normalised, boxes) > trained.metrics["center_baseline"]["max_box_acc_v2"]
        )
    assert trained.metrics["normalisations"]["ivr"]["max_box_acc"] > (
        trained.metrics["center_baseline"]["max_box_acc"] + 30
    )
    assert (
        trained.metrics["normalisations"]["ivr"]["pxap"]
        > trained.metrics["center_baseline"]["pxap"]
    )


def test_the_cam_peaks_on_the_object(trained, test_set):
    model = load(trained.artifact_dir, CPU)
    maps = cam(model, [s.image for s in test_set], [s.label for s in test_set])
    inside = [m[s.mask].mean() > m[~s.mask].mean() for m, s in zip(maps, test_set, strict=True)]
    assert np.mean(inside) > 0.8


def test_a_loaded_checkpoint_predicts_like_the_trained_model(trained, test_set):
    images = [s.image for s in test_set[:8]]
    first = load(trained.artifact_dir, CPU)
    second = load(trained.artifact_dir, CPU)
    np.testing.assert_array_equal(predict_proba(first, images), predict_proba(second, images))
    probs = predict_proba(first, images)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


def test_fitting_twice_with_one_seed_gives_the_same_losses():
    config = ExplainCnnConfig(n_train=32, epochs=1, image_size=32, width=4, batch_size=16)
    samples = generate("train", 32, seed=0, size=32)
    assert fit(samples, config, CPU)[1] == fit(samples, config, CPU)[1]


def test_cam_refuses_mismatched_or_unknown_classes():
    model = CamNet(num_classes=2, width=4)
    images = np.zeros((2, 24, 24, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="2 images but 1"):
        cam(model, images, [0])
    with pytest.raises(ValueError, match="0..1"):
        cam(model, images, [0, 2])
    with pytest.raises(ValueError, match="RGB"):
        to_tensor(np.zeros((2, 24, 24), dtype=np.uint8))


def test_the_config_refuses_unknown_and_out_of_range_settings():
    with pytest.raises(TrainingError, match="Unknown"):
        ExplainCnnConfig.from_dict({"epochz": 3})
    with pytest.raises(TrainingError, match="ivr_percentile"):
        ExplainCnnConfig.from_dict({"ivr_percentile": 1.0})
    config = ExplainCnnConfig.from_dict({"epochs": 2})
    assert ExplainCnnConfig.from_dict(config.to_dict()) == config
    assert config.ivr_percentile == 0.45 and config.cam_curve_interval == 0.01
    with pytest.raises(TrainingError, match="out_dir"):
        train(config, CPU)
