"""Generate the demo MOS study: 20 Harvard sentences × 4 systems, 16 kHz mono OGG Vorbis.

The "systems" are espeak-ng speech and degradations of it, built to differ clearly in quality.
Intended order, best first (the demo's simulated listeners and any real ones should agree):

1. ``reference``        espeak-ng en-us, normal rate, clean. The natural-recording stand-in
                        (``Config.reference_system``) for CMOS and MUSHRA.
2. ``mild_noise``       the same voice a little lower, white noise at 20 dB SNR: a faint hiss.
3. ``lowpass_clip``     hard clipping at a quarter of the peak (harsh distortion), then a
                        4 kHz low-pass (muffled); peak-set to -3 dBFS like the others, so the
                        importer's full-scale check passes it: the distortion is in the shape.
4. ``stretched_noisy``  slowed to 1.25× the duration with sox ``tempo`` (WSOLA artefacts) and
                        speech-shaped noise at 5 dB SNR: effortful to follow.

Indicative MOS for the simulated listeners: 4.3, 3.6, 2.5, 1.7 (``demo/systems.json``). The
clips are not loudness-normalised (the import does that), only peak-set to -3 dBFS, so the
import's normalisation has something to do. Writes apps/mos/demo/clips/<system>_<utt>.ogg,
apps/mos/demo/manifest.csv (``system,utterance_id,text,file``) and apps/mos/demo/systems.json.
Seeded: every run writes the same bytes.

    python scripts/mos/make_demo_audio.py      # needs espeak-ng and sox
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable

import _speech
import numpy as np

from apps.mos import audio

SEED = 20
DEMO = _speech.REPO / "apps" / "mos" / "demo"
CLIPS = DEMO / "clips"
PEAK_DBFS = -3.0

# From the Harvard sentences (IEEE 1969 "Recommended practice for speech quality
# measurements"), the usual public material of speech-quality tests.
SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "Large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
]


def reference(text: str, rng: np.random.Generator) -> np.ndarray:
    return _speech.espeak(text, "en-us", rate=155, pitch=50)


def mild_noise(text: str, rng: np.random.Generator) -> np.ndarray:
    speech = _speech.espeak(text, "en-us", rate=155, pitch=42)
    return _speech.at_snr(speech, rng.standard_normal(len(speech)).astype(np.float32), 20.0)


def lowpass_clip(text: str, rng: np.random.Generator) -> np.ndarray:
    speech = _speech.espeak(text, "en-us", rate=160, pitch=55)
    limit = 0.25 * float(np.abs(speech).max())
    # Clipping first: its harmonics would otherwise refill the band the low-pass removed.
    return audio.lowpass(np.clip(speech, -limit, limit), _speech.RATE, 4000)


def stretched_noisy(text: str, rng: np.random.Generator) -> np.ndarray:
    speech = _speech.tempo(_speech.espeak(text, "en-us", rate=160, pitch=45), 1 / 1.25)
    noise = _speech.speech_shaped_noise(len(speech), speech, rng)
    return _speech.at_snr(speech, noise, 5.0)


SYSTEMS: dict[str, Callable[[str, np.random.Generator], np.ndarray]] = {
    "reference": reference,
    "mild_noise": mild_noise,
    "lowpass_clip": lowpass_clip,
    "stretched_noisy": stretched_noisy,
}
INTENDED_MOS = {"reference": 4.3, "mild_noise": 3.6, "lowpass_clip": 2.5, "stretched_noisy": 1.7}


def main() -> None:
    CLIPS.mkdir(parents=True, exist_ok=True)
    for old in CLIPS.glob("*.ogg"):
        old.unlink()
    rows = []
    for number, text in enumerate(SENTENCES, start=1):
        utterance = f"h{number:02d}"
        for index, (system, make) in enumerate(SYSTEMS.items()):
            rng = np.random.default_rng([SEED, number, index])
            clip = _speech.peak_at(_speech.faded(make(text, rng)), PEAK_DBFS)
            file = f"clips/{system}_{utterance}.ogg"
            (DEMO / file).write_bytes(_speech.ogg_bytes(clip))
            rows.append({"system": system, "utterance_id": utterance, "text": text, "file": file})
    with (DEMO / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["system", "utterance_id", "text", "file"])
        writer.writeheader()
        writer.writerows(rows)
    systems = {
        "order": list(SYSTEMS),
        "intended_mos": INTENDED_MOS,
        "about": {name: " ".join(make.__name__.split("_")) for name, make in SYSTEMS.items()},
    }
    (DEMO / "systems.json").write_text(json.dumps(systems, indent=1) + "\n")
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    print(f"{len(rows)} clips, {total / 1024:.0f} KiB in {DEMO.relative_to(_speech.REPO)}")


if __name__ == "__main__":
    main()
