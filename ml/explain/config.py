"""The CAM classifier's settings (torch-free, so the web process can build the Train form).

A run is reproducible from this config alone: it names the generated data set (seed, sizes,
classes) as well as the training hyper-parameters, and the evaluation settings its metrics
were computed with.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.config import Config, TrainingError, field

from .saliency import IVR_PERCENTILE


@dataclass(frozen=True)
class ExplainCnnConfig(Config):
    """Defaults train in seconds on a CPU and localise clearly better than the centre baseline."""

    epochs: int = field(4, min=1, max=200)
    lr: float = field(3e-3, label="Learning rate", min=1e-6, max=0.1)
    batch_size: int = field(32, min=1, max=1024)
    width: int = field(
        16, label="Channels of the first block", min=4, max=128, help="Doubled at each block."
    )
    weight_decay: float = field(1e-4, min=0.0, max=1.0, advanced=True)
    seed: int = field(0, min=0, max=2**31 - 1)
    n_train: int = field(600, label="Generated training images", min=8, max=100_000)
    n_test: int = field(200, label="Generated test images", min=4, max=100_000)
    image_size: int = field(64, label="Image size (pixels)", min=24, max=256, advanced=True)
    num_classes: int = field(4, label="Object classes", min=2, max=6, advanced=True)
    ivr_percentile: float = field(
        IVR_PERCENTILE,
        label="IVR percentile",
        min=0.0,
        max=0.99,
        help="Pixels below this quantile of a map are removed before scaling (0.45 in the "
        "official code).",
    )
    cam_curve_interval: float = field(
        0.01,
        label="CAM threshold step",
        min=0.001,
        max=0.5,
        advanced=True,
        help="The threshold sweep of MaxBoxAcc and PxAP (wsolevaluation's CLI default 0.01).",
    )


@dataclass(frozen=True)
class ExplainTrainConfig(Config):
    """The model loop's run: a CamNet on the project's own images and their ground truth.

    The images and classes come from the project, so only the network, the held-out share
    and the evaluation settings are configured; images are resized to ``image_size`` squares
    (boxes with them), as the network needs one input size."""

    epochs: int = field(6, min=1, max=200)
    lr: float = field(3e-3, label="Learning rate", min=1e-6, max=0.1)
    batch_size: int = field(32, min=1, max=1024)
    width: int = field(
        16, label="Channels of the first block", min=4, max=128, help="Doubled at each block."
    )
    weight_decay: float = field(1e-4, min=0.0, max=1.0, advanced=True)
    seed: int = field(0, min=0, max=2**31 - 1)
    test_fraction: float = field(
        0.25,
        label="Held-out share",
        min=0.05,
        max=0.9,
        help="Share of the images (not items) kept out of training and scored.",
    )
    image_size: int = field(64, label="Input size (pixels)", min=24, max=256, advanced=True)
    ivr_percentile: float = field(IVR_PERCENTILE, label="IVR percentile", min=0.0, max=0.99)
    cam_curve_interval: float = field(
        0.01, label="CAM threshold step", min=0.001, max=0.5, advanced=True
    )


__all__ = ["ExplainCnnConfig", "ExplainTrainConfig", "TrainingError"]
