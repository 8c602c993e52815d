"""Speak the five P.808 trapping instructions: apps/mos/assets/prompts/select_<score>.ogg.

A trapping clip is the first seconds of a real test clip followed by "Please select the answer
<label>" (``apps.mos.audio.trap_assemble``); the expected vote is the label's ACR score. The
prompts are small 16 kHz mono OGG files, committed, read by ``audio.prompt_for`` and never
web-served (the assembled trap clip is, under an opaque name).

    python scripts/mos/make_prompts.py      # needs espeak-ng
"""

from __future__ import annotations

import _speech

from apps.mos import audio, schemas

VOICE = "en-us"


def main() -> None:
    audio.PROMPTS.mkdir(parents=True, exist_ok=True)
    for score, label in schemas.ACR_SCALE:
        # A comma gives the label a pause of its own, so it stands out after the test speech.
        spoken = _speech.espeak(f"Please select the answer, {label}.", VOICE, rate=150)
        path = audio.PROMPTS / f"select_{score}.ogg"
        path.write_bytes(_speech.ogg_bytes(_speech.peak_at(_speech.faded(spoken), -3.0)))
        print(f"{path.relative_to(_speech.REPO)}: {label}, {len(spoken) / _speech.RATE:.2f} s")


if __name__ == "__main__":
    main()
