"""What every model in ``ml/`` shares: device, seeding, checkpoints, progress, encoders."""

from .checkpoint import load_checkpoint, save_checkpoint
from .device import autocast, cpu_threads, pick_device
from .encoder import EncoderUnavailable, default_encoder_path, load_encoder, resolve_encoder
from .progress import Cancelled, ProgressFn, TrainingError, report
from .seeding import seed_everything

__all__ = [
    "Cancelled",
    "EncoderUnavailable",
    "ProgressFn",
    "TrainingError",
    "autocast",
    "cpu_threads",
    "default_encoder_path",
    "load_checkpoint",
    "load_encoder",
    "pick_device",
    "report",
    "resolve_encoder",
    "save_checkpoint",
    "seed_everything",
]
