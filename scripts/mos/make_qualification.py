"""Generate the headphone check (P.808-style qualification) and its answer key.

(a) Channel check: 6 clips, each a spoken number (1–9) in only the left or only the right
    channel (3 each). The listener says which ear heard it; a number, not the words "left" and
    "right", so the speech itself gives nothing away, and mono playback or swapped earbuds fail.
(b) Digits in noise: 8 clips of three spoken digits in speech-shaped noise at -2…+4 dB SNR
    (active speech against noise RMS). Well above a normal-hearing listener's threshold on
    headphones, well below what a loudspeaker across a noisy room lets through.

Clips go to apps/mos/static/mos/qual/<hex>.ogg (names derived from the seed, revealing nothing);
the answers to apps/mos/assets/qualification.json, which is not web-served. Each participant
gets a seeded selection (``audio.qualification_stimuli``).

    python scripts/mos/make_qualification.py      # needs espeak-ng
"""

from __future__ import annotations

import hashlib
import json

import _speech
import numpy as np

from apps.mos import audio

SEED = 808
STATIC = _speech.REPO / "apps" / "mos" / "static"
QUAL_DIR = STATIC / "mos" / "qual"
CHANNEL_CLIPS = 6
DIGIT_CLIPS = 8
SNRS_DB = np.round(np.linspace(-2.0, 4.0, DIGIT_CLIPS) * 2) / 2
DIGIT_GAP_S = 0.35
NOISE_LEAD_S, NOISE_TAIL_S = 0.6, 0.5
VOICE = "en-us"


def opaque_name(kind: str, index: int) -> str:
    return hashlib.sha256(f"chorus-qualification:{SEED}:{kind}:{index}".encode()).hexdigest()[:16]


def channel_clip(number: int, side: str) -> np.ndarray:
    spoken = _speech.peak_at(_speech.faded(_speech.espeak(str(number), VOICE)), -3.0)
    padded = np.concatenate([np.zeros(_speech.RATE // 4, np.float32), spoken])
    stereo = np.zeros((len(padded), 2), dtype=np.float32)
    stereo[:, 0 if side == "left" else 1] = padded
    return stereo


def digits_clip(digits: str, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    gap = np.zeros(int(DIGIT_GAP_S * _speech.RATE), np.float32)
    parts = []
    for digit in digits:
        parts += [_speech.faded(_speech.espeak(digit, VOICE)), gap]
    lead = np.zeros(int(NOISE_LEAD_S * _speech.RATE), np.float32)
    tail = np.zeros(int(NOISE_TAIL_S * _speech.RATE), np.float32)
    speech = np.concatenate([lead, *parts[:-1], tail])
    noise = _speech.speech_shaped_noise(len(speech), speech, rng)
    return _speech.peak_at(_speech.faded(_speech.at_snr(speech, noise, snr_db), 0.1), -3.0)


def triplet(rng: np.random.Generator) -> str:
    """Three digits 1–9, no digit twice, so each one has to be heard."""
    return "".join(str(d) for d in rng.choice(np.arange(1, 10), size=3, replace=False))


def write_clip(kind: str, index: int, samples: np.ndarray) -> str:
    """Write one clip under its opaque name; its path as ``{% static %}`` takes it."""
    path = QUAL_DIR / f"{opaque_name(kind, index)}.ogg"
    path.write_bytes(_speech.ogg_bytes(samples))
    return str(path.relative_to(STATIC))


def channel_entries(rng: np.random.Generator) -> list[dict[str, object]]:
    sides = ["left"] * (CHANNEL_CLIPS // 2) + ["right"] * (CHANNEL_CLIPS - CHANNEL_CLIPS // 2)
    numbers = rng.choice(np.arange(1, 10), size=CHANNEL_CLIPS, replace=False)
    return [
        {
            "file": write_clip("channel", index, channel_clip(int(number), str(side))),
            "kind": "channel",
            "answer": str(side),
            "number": str(number),
        }
        for index, (side, number) in enumerate(zip(rng.permutation(sides), numbers, strict=True))
    ]


def digits_entries(rng: np.random.Generator) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    for index, snr_db in enumerate(SNRS_DB):
        digits = triplet(rng)
        clip = digits_clip(digits, float(snr_db), rng)
        entries.append(
            {
                "file": write_clip("digits", index, clip),
                "kind": "digits",
                "answer": digits,
                "snr_db": float(snr_db),
            }
        )
    return entries


def main() -> None:
    rng = np.random.default_rng(SEED)
    QUAL_DIR.mkdir(parents=True, exist_ok=True)
    for old in QUAL_DIR.glob("*.ogg"):
        old.unlink()
    key = channel_entries(rng) + digits_entries(rng)
    audio.QUALIFICATION_KEY.write_text(json.dumps(key, indent=1) + "\n")
    total = sum(p.stat().st_size for p in QUAL_DIR.glob("*.ogg"))
    print(f"{len(key)} clips, {total / 1024:.0f} KiB in {QUAL_DIR.relative_to(_speech.REPO)}")


if __name__ == "__main__":
    main()
