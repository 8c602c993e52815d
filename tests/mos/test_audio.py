"""apps.mos.audio and the shipped audio: decoding, checks, loudness, anchors, traps, headphone check.

Pure numpy/scipy/soundfile; no database. Expected values are computed here independently
(numpy FFTs, pyloudnorm's meter, soundfile) rather than through the module under test.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile

from apps.mos import audio, schemas

DEMO = Path(audio.__file__).parent / "demo"
STATIC = Path(audio.__file__).parent / "static"
SR = 16000


def tone(seconds: float, sr: int = SR, freq: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speechlike(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Noise with a syllable-rate envelope: loudness varies like speech, peaks are not flat."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    return (0.1 * rng.standard_normal(len(t)) * envelope).astype(np.float32)


def encoded(samples: np.ndarray, sr: int, fmt: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sr, format=fmt, subtype=subtype)
    return buffer.getvalue()


def band_energy(samples: np.ndarray, sr: int, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / sr)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def manifest_rows() -> list[dict]:
    with (DEMO / "manifest.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


# The shipped demo study ----------------------------------------------------------------------


def test_the_demo_manifest_references_exactly_the_shipped_clips():
    rows = manifest_rows()
    assert list(rows[0]) == ["system", "utterance_id", "text", "file"]
    shipped = {str(p.relative_to(DEMO)) for p in (DEMO / "clips").iterdir()}
    assert {row["file"] for row in rows} == shipped
    assert len(rows) == len(shipped)


def test_the_demo_has_every_system_speak_every_sentence():
    rows = manifest_rows()
    systems = json.loads((DEMO / "systems.json").read_text())["order"]
    assert systems[0] == schemas.Config().reference_system
    grid = {(row["system"], row["utterance_id"]) for row in rows}
    utterances = {row["utterance_id"] for row in rows}
    assert {row["system"] for row in rows} == set(systems)
    assert len(systems) == 4 and len(utterances) == 20
    assert len(grid) == 80
    texts = {row["utterance_id"]: row["text"] for row in rows if row["system"] == systems[0]}
    assert all(texts[row["utterance_id"]] == row["text"] for row in rows)


def test_every_demo_clip_decodes_and_passes_the_default_stimulus_checks():
    for row in manifest_rows():
        data = (DEMO / row["file"]).read_bytes()
        samples, rate = audio.clip_read(data, row["file"])
        info = audio.clip_measure(samples, rate)
        assert (rate, info.channels) == (SR, 1), row["file"]
        assert 1.5 <= info.duration_s <= 4.0, row["file"]
        assert audio.clip_problems(info, schemas.Stimuli()) == [], row["file"]
        assert info.lufs is not None


def test_the_demo_fits_in_two_megabytes():
    assert sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file()) <= 2 * 1024 * 1024


def test_the_demo_systems_differ_in_the_intended_direction():
    """Cheap physical proxies of the intended order: noise raises the quiet-frame floor,
    the low-pass removes the band above 4 kHz."""

    def floor_db(samples: np.ndarray) -> float:
        frames = samples[: len(samples) // 320 * 320].reshape(-1, 320)
        energy = (frames**2).mean(axis=1)
        return 10 * math.log10(np.percentile(energy, 10) / energy.max())

    def clip(system: str) -> np.ndarray:
        return soundfile.read(DEMO / "clips" / f"{system}_h01.ogg", dtype="float32")[0]

    floors = {s: floor_db(clip(s)) for s in ("reference", "mild_noise", "stretched_noisy")}
    assert floors["reference"] < floors["mild_noise"] < floors["stretched_noisy"]
    muffled = clip("lowpass_clip")
    assert band_energy(muffled, SR, 4500, 8000) < 1e-3 * band_energy(muffled, SR, 0, 4000)


# Decoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "subtype"),
    [
        ("WAV", "PCM_16"),
        ("FLAC", "PCM_16"),
        ("OGG", "VORBIS"),
        ("OGG", "OPUS"),
        ("MP3", "MPEG_LAYER_III"),
    ],
)
def test_each_supported_format_decodes_to_the_same_duration(fmt, subtype):
    if subtype not in soundfile.available_subtypes(fmt):
        pytest.skip(f"this libsndfile cannot write {fmt}/{subtype}")
    original = tone(1.5)
    samples, rate = audio.clip_read(encoded(original, SR, fmt, subtype), f"clip.{fmt.lower()}")
    assert rate == SR
    assert samples.dtype == np.float32 and samples.shape[1] == 1
    assert abs(len(samples) - len(original)) / SR < 0.03


def test_a_stereo_file_keeps_its_channels():
    stereo = np.stack([tone(1.0), tone(1.0, freq=880)], axis=1)
    samples, _ = audio.clip_read(encoded(stereo, SR, "FLAC", "PCM_16"), "s.flac")
    assert samples.shape == (SR, 2)


@pytest.mark.parametrize(
    "data",
    [b"", b"this is not audio" * 20, encoded(tone(1.0), SR, "WAV", "PCM_16")[:40]],
    ids=["empty", "garbage", "header-only"],
)
def test_undecodable_bytes_are_refused_by_file_name(data):
    with pytest.raises(audio.AudioRefused, match=r"^bad\.wav: cannot be decoded as audio \(.+\)"):
        audio.clip_read(data, "bad.wav")


@pytest.mark.parametrize(("fmt", "name"), [("WAV", "cut.wav"), ("FLAC", "cut.flac")])
def test_a_file_cut_in_half_is_refused_rather_than_read_short(fmt, name):
    whole = encoded(speechlike(2.0), SR, fmt, "PCM_16")
    with pytest.raises(audio.AudioRefused, match=rf"^{re.escape(name)}: cannot be decoded"):
        audio.clip_read(whole[: len(whole) // 2], name)


def test_a_header_without_samples_is_refused():
    empty = encoded(np.zeros(0, np.float32), SR, "WAV", "PCM_16")
    with pytest.raises(audio.AudioRefused, match=r"^none\.wav: holds no audio samples"):
        audio.clip_read(empty, "none.wav")


# Measuring and checking ----------------------------------------------------------------------


def test_clip_measure_matches_direct_computation():
    samples = np.stack([speechlike(3.0), 0.5 * speechlike(3.0, seed=1)], axis=1)
    samples[100, 0] = 1.0
    info = audio.clip_measure(samples, SR)
    assert (info.frames, info.channels, info.sample_rate) == (3 * SR, 2, SR)
    assert info.duration_s == pytest.approx(3.0)
    assert info.peak_dbfs == pytest.approx(0.0, abs=1e-6)
    assert info.clipped_share == pytest.approx(1 / samples.size)
    expected = pyloudnorm.Meter(SR).integrated_loudness(samples.astype(np.float64))
    assert info.lufs == pytest.approx(expected, abs=1e-6)


def test_silence_and_very_short_clips_have_no_loudness():
    silent = audio.clip_measure(np.zeros(SR, np.float32), SR)
    assert silent.lufs is None and silent.peak_dbfs == -math.inf
    assert audio.clip_measure(tone(0.3), SR).lufs is None
    assert json.dumps(silent.payload())


PROBLEM_CASES = {
    "silent": (tone(2.0, amplitude=1e-4), SR),
    "clipped": (np.clip(tone(2.0, amplitude=1.5), -1, 1), SR),
    "too short": (tone(0.3), SR),
    "too long": (tone(21.0), SR),
    "sample rate too low": (tone(2.0, sr=8000), 8000),
}


@pytest.mark.parametrize("problem", list(PROBLEM_CASES))
def test_each_faulty_clip_has_exactly_its_problem(problem):
    samples, sr = PROBLEM_CASES[problem]
    problems = audio.clip_problems(audio.clip_measure(samples, sr), schemas.Stimuli())
    assert len(problems) == 1
    assert problems[0].startswith(problem + ":")


def test_a_good_clip_has_no_problems():
    assert audio.clip_problems(audio.clip_measure(tone(2.0), SR), schemas.Stimuli()) == []


def test_the_limits_come_from_the_study_settings():
    info = audio.clip_measure(tone(2.0), SR)
    strict = schemas.Stimuli(min_duration_s=3.0, min_sample_rate=22050)
    assert [p.split(":")[0] for p in audio.clip_problems(info, strict)] == [
        "too short",
        "sample rate too low",
    ]


def test_rate_mismatches_names_the_odd_file_out():
    infos = {
        "a.wav": audio.clip_measure(tone(1.0), SR),
        "b.wav": audio.clip_measure(tone(1.0, sr=22050), 22050),
        "c.wav": audio.clip_measure(tone(1.0), SR),
    }
    mismatches = audio.rate_mismatches(infos)
    assert len(mismatches) == 1
    assert mismatches[0].startswith("b.wav:") and "22050" in mismatches[0]
    assert audio.rate_mismatches({"a.wav": infos["a.wav"]}) == []


# Loudness, encoding, anchors -----------------------------------------------------------------


@pytest.mark.parametrize("target", [-23.0, -16.0, -30.0])
def test_loudness_normalise_hits_the_target(target):
    for samples in (speechlike(3.0), np.stack([speechlike(3.0), speechlike(3.0, seed=2)], 1)):
        out = audio.loudness_normalise(samples, SR, target)
        assert out.shape == samples.shape
        measured = pyloudnorm.Meter(SR).integrated_loudness(out.astype(np.float64))
        assert measured == pytest.approx(target, abs=0.5)
        assert np.abs(out).max() <= 1.0


def test_loudness_normalise_limits_the_peak_instead_of_clipping():
    peaky = speechlike(3.0)
    peaky[SR] = 0.9  # one spike far above the rest
    out = audio.loudness_normalise(peaky, SR, -5.0)
    assert 20 * np.log10(np.abs(out).max()) == pytest.approx(-1.0, abs=0.01)
    assert pyloudnorm.Meter(SR).integrated_loudness(out.astype(np.float64)) < -5.0


def test_loudness_normalise_leaves_silence_alone():
    silent = np.zeros(SR, np.float32)
    assert np.array_equal(audio.loudness_normalise(silent, SR, -23.0), silent)


@pytest.mark.parametrize("fmt", ["flac", "wav", "ogg"])
def test_clip_encode_round_trips(fmt):
    original = speechlike(2.0)
    samples, rate = audio.clip_read(audio.clip_encode(original, SR, fmt), f"x.{fmt}")
    assert rate == SR and len(samples) == len(original)
    if fmt != "ogg":
        assert np.abs(samples[:, 0] - original).max() < 1e-4


def test_flac_is_smaller_than_wav():
    original = soundfile.read(DEMO / "clips" / "reference_h01.ogg", dtype="float32")[0]
    assert len(audio.clip_encode(original, SR)) < 0.8 * len(audio.clip_encode(original, SR, "wav"))


@pytest.mark.parametrize("cutoff", list(schemas.ANCHOR_CUTOFFS_HZ.values()))
def test_lowpass_removes_the_band_above_the_cutoff_and_keeps_the_band_below(cutoff):
    sr = 48000
    rng = np.random.default_rng(3)
    below = sum(tone(2.0, sr, cutoff * f, 0.1) for f in (0.2, 0.5, 0.8))
    above = sum(tone(2.0, sr, cutoff * f, 0.1) for f in (1.25, 1.6, 2.5))
    noise = (0.01 * rng.standard_normal(2 * sr)).astype(np.float32)
    samples = below + above + noise
    out = audio.lowpass(samples, sr, cutoff)
    stop_before = band_energy(samples, sr, 1.2 * cutoff, sr / 2)
    stop_after = band_energy(out, sr, 1.2 * cutoff, sr / 2)
    assert 10 * np.log10(stop_before / stop_after) > 40
    pass_before = band_energy(samples, sr, 0, 0.9 * cutoff)
    pass_after = band_energy(out, sr, 0, 0.9 * cutoff)
    assert abs(10 * np.log10(pass_after / pass_before)) < 0.5


def test_lowpass_at_or_above_nyquist_returns_a_copy():
    samples = speechlike(1.0)
    out = audio.lowpass(samples, SR, 8000)
    assert out is not samples and np.array_equal(out, samples)


def test_to_mono_at_averages_channels_and_resamples():
    left, right = tone(1.0, 22050, 440.0), tone(1.0, 22050, 440.0, 0.1)
    out = audio.to_mono_at(np.stack([left, right], 1), 22050, SR)
    assert out.shape == (SR,)
    assert np.fft.rfftfreq(SR, 1 / SR)[np.argmax(np.abs(np.fft.rfft(out)))] == pytest.approx(440)
    assert np.abs(out[2000:-2000]).max() == pytest.approx(0.2, abs=0.01)


# Trapping clips ------------------------------------------------------------------------------


@pytest.mark.parametrize("score", [1, 2, 3, 4, 5])
def test_each_trap_prompt_is_shipped(score):
    prompt, rate = audio.prompt_for(score)
    assert prompt.ndim == 1 and rate == SR
    assert 1.0 < len(prompt) / rate < 4.0


def test_prompt_for_refuses_a_score_off_the_scale():
    with pytest.raises(ValueError, match="1–5"):
        audio.prompt_for(6)


@pytest.mark.parametrize(("sr", "channels"), [(SR, 1), (48000, 2)])
def test_trap_assemble_starts_with_the_clip_and_ends_with_the_prompt(sr, channels):
    clip = np.stack([speechlike(8.0, sr, seed=c) for c in range(channels)], axis=1)
    prompt, prompt_sr = audio.prompt_for(2)
    trap = audio.trap_assemble(clip, sr, prompt, prompt_sr)
    mono = clip.mean(axis=1)
    lead, pause = 5 * sr, int(0.3 * sr)
    spoken = audio.to_mono_at(prompt, prompt_sr, sr)
    assert len(trap) == lead + pause + len(spoken)
    faded_from = lead - int(0.02 * sr)
    assert np.array_equal(trap[:faded_from], mono[:faded_from])
    assert np.all(trap[lead : lead + pause] == 0)
    tail = trap[lead + pause :]
    assert np.corrcoef(tail, spoken)[0, 1] > 0.9999
    meter = pyloudnorm.Meter(sr)
    lead_lufs = meter.integrated_loudness(mono[:lead].astype(np.float64))
    assert meter.integrated_loudness(tail.astype(np.float64)) == pytest.approx(lead_lufs, abs=1)


def test_trap_assemble_uses_all_of_a_short_clip():
    clip = speechlike(2.0)
    prompt, prompt_sr = audio.prompt_for(5)
    trap = audio.trap_assemble(clip, SR, prompt, prompt_sr)
    assert len(trap) == len(clip) + int(0.3 * SR) + len(prompt)


# The headphone check -------------------------------------------------------------------------


def answer_key() -> list[dict]:
    return json.loads(audio.QUALIFICATION_KEY.read_text())


def test_the_answer_key_files_are_shipped_under_static_with_opaque_names():
    key = answer_key()
    assert {e["kind"] for e in key} == {"channel", "digits"}
    assert {e["answer"] for e in key if e["kind"] == "channel"} == {"left", "right"}
    for entry in key:
        assert re.fullmatch(r"mos/qual/[0-9a-f]{16}\.ogg", entry["file"])
        assert (STATIC / entry["file"]).is_file()
    shipped = {str(p.relative_to(STATIC)) for p in (STATIC / "mos" / "qual").iterdir()}
    assert shipped == {e["file"] for e in key}
    assert not (STATIC / "mos" / "qualification.json").exists()


def test_each_channel_clip_sounds_in_its_answers_ear_only():
    for entry in (e for e in answer_key() if e["kind"] == "channel"):
        samples, _ = soundfile.read(STATIC / entry["file"], always_2d=True)
        energy = (samples**2).sum(axis=0)
        loud, quiet = (0, 1) if entry["answer"] == "left" else (1, 0)
        assert energy[quiet] < 1e-6 * energy[loud], entry


def test_each_digits_clip_is_mono_with_a_three_digit_answer():
    for entry in (e for e in answer_key() if e["kind"] == "digits"):
        samples, rate = soundfile.read(STATIC / entry["file"], always_2d=True)
        assert samples.shape[1] == 1 and rate == SR
        assert re.fullmatch(r"[1-9]{3}", entry["answer"])


def test_qualification_stimuli_is_seeded_and_balanced():
    selection = audio.qualification_stimuli(41)
    assert selection == audio.qualification_stimuli(41)
    assert any(audio.qualification_stimuli(s)["items"] != selection["items"] for s in range(5))
    kinds = [item["kind"] for item in selection["items"]]
    assert kinds == ["channel"] * 4 + ["digits"] * 3
    channel_answers = [selection["answers"][i["key"]] for i in selection["items"][:4]]
    assert sorted(channel_answers) == ["left", "left", "right", "right"]
    assert len({item["file"] for item in selection["items"]}) == 7
    assert all(set(item) == {"key", "kind", "file"} for item in selection["items"])


def correct_answers(selection: dict) -> dict[str, str]:
    return dict(selection["answers"])


def test_qualification_check_passes_correct_answers():
    selection = audio.qualification_stimuli(7)
    answers = correct_answers(selection)
    answers["dg1"] = " ".join(answers["dg1"])  # typed with spaces
    answers["ch1"] = answers["ch1"].upper()
    passed, details = audio.qualification_check(selection, answers)
    assert passed and details["problems"] == []
    assert details["channel"] == {"right": 4, "of": 4, "wrong": []}


def test_qualification_check_fails_one_wrong_channel():
    selection = audio.qualification_stimuli(7)
    answers = correct_answers(selection)
    answers["ch3"] = "right" if answers["ch3"] == "left" else "left"
    passed, details = audio.qualification_check(selection, answers)
    assert not passed
    assert details["channel"]["wrong"] == ["ch3"]
    assert details["problems"][0].startswith("left/right check: 1 of 4")


def test_qualification_check_forgives_one_misheard_triplet_but_not_two():
    selection = audio.qualification_stimuli(7)
    answers = correct_answers(selection)
    answers["dg2"] = "000"
    passed, details = audio.qualification_check(selection, answers)
    assert passed and details["digits"]["right"] == 2
    answers["dg3"] = ""
    passed, details = audio.qualification_check(selection, answers)
    assert not passed and details["digits"]["wrong"] == ["dg2", "dg3"]
    assert "1 of 3" in details["problems"][0]


def test_qualification_check_fails_missing_answers_and_reveals_no_answers():
    selection = audio.qualification_stimuli(9)
    passed, details = audio.qualification_check(selection, {})
    assert not passed and len(details["problems"]) == 2
    text = json.dumps(details)
    assert not any(
        selection["answers"][k] in text for k in selection["answers"] if k.startswith("dg")
    )
