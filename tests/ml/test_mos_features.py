"""ml.mos.features against numpy: the log-mel, the HTK filterbank and the resampling loader."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
import torch

from ml.mos.features import FeatureSpec, load_audio, log_mel, mel_filterbank

SPEC = FeatureSpec()  # 16 kHz, n_fft 512, Hann 400, hop 160, 40 mels


def numpy_log_mel(wave: np.ndarray, spec: FeatureSpec, fbank: np.ndarray) -> np.ndarray:
    """The textbook computation: centred frames, periodic Hann, rfft, power, mel, log."""
    padded = np.pad(wave.astype(np.float64), spec.n_fft // 2, mode="reflect")
    n = np.arange(spec.win_length)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / spec.win_length)
    window = np.zeros(spec.n_fft)
    left = (spec.n_fft - spec.win_length) // 2
    window[left : left + spec.win_length] = hann
    n_frames = 1 + len(wave) // spec.hop_length
    frames = np.stack(
        [padded[t * spec.hop_length : t * spec.hop_length + spec.n_fft] for t in range(n_frames)]
    )
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return np.log(power @ fbank + spec.eps)


def htk_points(n_mels: int, f_max: float) -> np.ndarray:
    top = 2595.0 * np.log10(1.0 + f_max / 700.0)
    return 700.0 * (10.0 ** (np.linspace(0.0, top, n_mels + 2) / 2595.0) - 1.0)


def test_the_log_mel_equals_a_numpy_stft_times_the_filterbank():
    rng = np.random.default_rng(3)
    t = np.arange(12345) / SPEC.sample_rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    fbank = mel_filterbank(SPEC.n_mels, SPEC.n_fft, SPEC.sample_rate).numpy().astype(np.float64)
    ours = log_mel(torch.tensor(wave, dtype=torch.float32), SPEC).numpy()
    expected = numpy_log_mel(wave.astype(np.float32), SPEC, fbank)
    assert ours.shape == expected.shape == (1 + 12345 // 160, 40)
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=0)


def test_each_triangle_peaks_at_its_mel_spaced_centre_and_is_zero_outside_its_edges():
    n_mels, n_fft, rate = 24, 4096, 16000
    fbank = mel_filterbank(n_mels, n_fft, rate).numpy()
    bins = np.linspace(0, rate / 2, n_fft // 2 + 1)
    points = htk_points(n_mels, rate / 2)  # equally spaced in HTK mel, computed here
    assert fbank.shape == (n_fft // 2 + 1, n_mels)
    for m in range(n_mels):
        lower, centre, upper = points[m], points[m + 1], points[m + 2]
        peak = int(np.argmax(fbank[:, m]))
        assert peak == int(np.argmin(np.abs(bins - centre)))
        assert fbank[peak, m] == pytest.approx(1.0, abs=0.15)  # 1 at the centre, bins apart
        outside = (bins <= lower) | (bins >= upper)
        assert np.all(fbank[outside, m] == 0) and np.all(fbank[~outside, m] > 0)


def test_a_filterbank_above_nyquist_is_refused():
    with pytest.raises(ValueError, match="f_max"):
        mel_filterbank(40, 512, 16000, f_max=9000.0)


def test_load_audio_resamples_22050_to_16000_keeping_duration_and_pitch(tmp_path):
    rate, seconds, hz = 22050, 1.5, 440.0
    t = np.arange(int(rate * seconds)) / rate
    tone = (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    path = tmp_path / "tone.wav"
    soundfile.write(path, np.stack([tone, 0.5 * tone], axis=1), rate, subtype="FLOAT")
    wave = load_audio(str(path), 16000)
    assert wave.dtype == torch.float32 and wave.dim() == 1
    assert wave.numel() == round(seconds * 16000) == 24000
    spectrum = np.abs(np.fft.rfft(wave.numpy()))
    assert np.fft.rfftfreq(wave.numel(), 1 / 16000)[np.argmax(spectrum)] == pytest.approx(hz, abs=1)
    # The two channels are averaged: amplitude (0.5 + 0.25) / 2, away from the filter's edges.
    middle = wave.numpy()[2000:-2000]
    assert np.abs(middle).max() == pytest.approx(0.375, abs=0.01)


def test_load_audio_reads_a_file_object_and_leaves_16k_untouched():
    samples = np.linspace(-0.5, 0.5, 16000, dtype=np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 16000, format="WAV", subtype="FLOAT")
    buffer.seek(0)
    np.testing.assert_array_equal(load_audio(buffer).numpy(), samples)


def test_a_clip_shorter_than_half_a_window_still_gives_a_frame():
    frames = log_mel(torch.zeros(100), SPEC)
    assert frames.shape[1] == 40 and frames.shape[0] >= 1
    assert torch.isfinite(frames).all()
