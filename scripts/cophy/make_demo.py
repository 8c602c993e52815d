"""Generate the CoPhy demo scenes: 24 block towers (3 and 4 blocks), 16 balls, 16 collisions.

Writes ``apps/cophy/demo/scenes/{blocktowerCF/<3|4>,ballsCF/<n>,collisionCF}/<id>/`` in the
official layout (float32 ``states.npy``, no videos), replacing what was there. The same seed
writes the same arrays, so the committed files can be checked by rerunning this script::

    python scripts/cophy/make_demo.py [--seed 7] [--out apps/cophy/demo/scenes]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ml.cophy.layout import FOLDERS, read_examples  # noqa: E402
from ml.cophy.sim import generate  # noqa: E402

DEMO = {"blocktower": 24, "balls": 16, "collision": 16}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "apps" / "cophy" / "demo" / "scenes")
    args = parser.parse_args()
    for folder in FOLDERS.values():
        shutil.rmtree(args.out / folder, ignore_errors=True)
    for scenario, n in DEMO.items():
        started = time.perf_counter()
        result = generate(scenario, n, args.seed, args.out)
        seconds = time.perf_counter() - started
        print(
            f"{scenario}: {n} examples in {seconds:.1f} s ({n / seconds:.2f}/s, "
            f"{result.simulations} simulations)"
        )
    check = read_examples(args.out)
    if check.problems:
        raise SystemExit(f"The written scenes do not read back: {check.problems}")
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{len(check.examples)} examples, {size / 1e6:.2f} MB under {args.out}")


if __name__ == "__main__":
    main()
