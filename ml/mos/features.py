"""Audio in, log-mel frames out, with torch and scipy only (no torchaudio, no librosa).

torchaudio's wheels do not match the pinned torch, so the short-time Fourier transform is
``torch.stft`` and the mel filterbank is built here. The filterbank uses the **HTK mel
formula** (``mel = 2595 · log10(1 + f / 700)``) with triangles of peak 1 (no area
normalisation): it has one closed form, so a test can check every triangle's peak against
the mel-spaced centre frequencies, and the log afterwards makes a per-band gain irrelevant to
the model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, BinaryIO

import numpy as np
import soundfile
import torch
from scipy.signal import resample_poly

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class FeatureSpec:
    """How a clip becomes frames; saved in the checkpoint so prediction computes the same."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 512
    win_length: int = 400  # 25 ms at 16 kHz
    hop_length: int = 160  # 10 ms at 16 kHz
    n_mels: int = 40
    f_min: float = 0.0
    f_max: float | None = None  # None: the Nyquist frequency
    eps: float = 1e-6  # floor inside the log, so silence is finite

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(**data)


def hz_to_mel(hz):
    """HTK mel scale; works on floats and numpy arrays."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_centres(n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """The ``n_mels + 2`` edge/centre frequencies (Hz), equally spaced on the mel scale."""
    return mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))


def mel_filterbank(
    n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None
) -> torch.Tensor:
    """``(n_fft // 2 + 1, n_mels)`` triangles on the FFT bin frequencies, each of peak 1.

    Triangle ``m`` rises from ``points[m]`` to its centre ``points[m + 1]`` and falls to
    ``points[m + 2]``; it is evaluated at the bin frequencies, so its largest weight falls on
    the bin nearest the centre.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"Need 0 <= f_min < f_max <= {sample_rate / 2} Hz.")
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    points = mel_centres(n_mels, f_min, f_max)
    lower, centre, upper = points[:-2], points[1:-1], points[2:]
    rising = (bins[:, None] - lower) / (centre - lower)
    falling = (upper - bins[:, None]) / (upper - centre)
    weights = np.clip(np.minimum(rising, falling), 0.0, None)
    return torch.from_numpy(weights.astype(np.float32))


def log_mel(
    wave: torch.Tensor, spec: FeatureSpec | None = None, fbank: torch.Tensor | None = None
) -> torch.Tensor:
    """``(frames, n_mels)`` log mel power of a mono ``(samples,)`` wave at ``spec.sample_rate``.

    Power spectrum ``|STFT|²`` with a periodic Hann window of ``win_length`` (centred in
    ``n_fft``), frames centred on ``t · hop_length`` (reflect padding), then
    ``log(power @ fbank + eps)``.
    """
    if wave.dim() != 1:
        raise ValueError("log_mel takes one mono wave of shape (samples,).")
    spec = spec or FeatureSpec()
    if fbank is None:
        fbank = mel_filterbank(spec.n_mels, spec.n_fft, spec.sample_rate, spec.f_min, spec.f_max)
    wave = wave.to(torch.float32)
    if wave.numel() <= spec.n_fft // 2:
        # Reflect padding needs more samples than the pad; a too-short clip is zero-extended.
        wave = torch.nn.functional.pad(wave, (0, spec.n_fft // 2 + 1 - wave.numel()))
    window = torch.hann_window(spec.win_length, periodic=True, device=wave.device)
    stft = torch.stft(
        wave,
        n_fft=spec.n_fft,
        hop_length=spec.hop_length,
        win_length=spec.win_length,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    power = stft.abs().pow(2).transpose(0, 1)  # (frames, freqs)
    return torch.log(power @ fbank.to(power.device) + spec.eps)


def load_audio(source: str | BinaryIO, target_sr: int = SAMPLE_RATE) -> torch.Tensor:
    """A file (path or binary file object) as a mono float32 wave at ``target_sr``.

    Channels are averaged; the rate is changed with a polyphase filter
    (``scipy.signal.resample_poly``, up/down reduced by their gcd), which keeps the duration:
    ``round(len · target / source)`` samples.
    """
    data, rate = soundfile.read(source, dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if rate != target_sr:
        ratio = Fraction(target_sr, rate)
        mono = resample_poly(mono, ratio.numerator, ratio.denominator).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(mono))


def crop(wave: torch.Tensor, max_seconds: float, sample_rate: int) -> torch.Tensor:
    """The first ``max_seconds`` of a wave: MOS clips are short, and memory grows with length."""
    return wave[: max(1, math.floor(max_seconds * sample_rate))]
