"""Training and prediction speed of the humor model (ml/humor), no Django.

    .venv/bin/python bench/train_humor.py                 # CPU, or CUDA when present
    .venv/bin/python bench/train_humor.py --device cpu --samples 512 --predict 2048

Prints training samples/s and prediction items/s, naming the device. The posts are
synthetic (ml/humor/synthetic.py): speed depends on their token length (~20 tokens here, like
short social-media posts), not on their content.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from ml.common import pick_device  # noqa: E402
from ml.common.device import device_name  # noqa: E402
from ml.humor.predict import Predictor  # noqa: E402
from ml.humor.synthetic import synthetic_posts  # noqa: E402
from ml.humor.train import HumorTrainConfig, train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="", help="cpu | cuda (default: CUDA if present)")
    parser.add_argument("--samples", type=int, default=512, help="training posts (1 epoch)")
    parser.add_argument("--predict", type=int, default=2048, help="posts to predict")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--predict-batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--encoder", default="", help="HF id or path; default bundled MiniLM")
    parser.add_argument("--json", action="store_true", help="print one JSON line too")
    args = parser.parse_args()

    device = pick_device(args.device or None)
    posts = synthetic_posts(args.samples)
    for post in posts:
        post["split"] = "train"  # every post trains; we time training, not evaluation
    config = HumorTrainConfig(
        epochs=1, batch_size=args.batch_size, max_length=args.max_length, encoder=args.encoder
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "artifact"
        result = train(posts, config, device, None, out)
        train_rate = result.metrics["train_samples_per_second"]

        texts = [p["text"] for p in synthetic_posts(args.predict, seed=1)]
        predictor = Predictor(out, device)
        predictor.predict(
            texts[: args.predict_batch_size], batch_size=args.predict_batch_size
        )  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        predictor.predict(texts, batch_size=args.predict_batch_size)
        if device.type == "cuda":
            torch.cuda.synchronize()
        predict_rate = len(texts) / (time.perf_counter() - started)

    name = device_name(device)
    threads = torch.get_num_threads()
    detail = f"{threads} threads" if device.type == "cpu" else "bf16 autocast"
    print(f"device: {name} ({detail})")
    print(f"encoder: {config.encoder or 'bundled MiniLM-L6'} · max_length {args.max_length}")
    print(
        f"training:   {train_rate:8.1f} samples/s  ({args.samples} posts, 1 epoch, batch {args.batch_size})"
    )
    print(
        f"prediction: {predict_rate:8.1f} items/s    ({args.predict} posts, batch {args.predict_batch_size})"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "device": name,
                    "train_samples_per_s": train_rate,
                    "predict_items_per_s": predict_rate,
                }
            )
        )


if __name__ == "__main__":
    main()
