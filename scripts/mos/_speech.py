"""What the generation scripts share: espeak-ng speech, sox tempo, noise at an SNR, stable OGG.

Only the scripts need espeak-ng and sox (``apt-get install espeak-ng sox``); the files they
write are committed, so the platform and ``make demo`` never call them. Every run with the same
seed writes the same bytes: libsndfile gives each OGG stream a random serial number, so
``ogg_bytes`` rewrites it to a fixed one (and the page checksums with it).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile
from scipy import signal

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from apps.mos import audio  # noqa: E402

RATE = 16000
OGG_SERIAL = 0x43484F52  # "CHOR"


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        sys.exit(f"{tool} is needed to regenerate these files: apt-get install -y {tool}")


def espeak(text: str, voice: str = "en-us", rate: int = 165, pitch: int = 50) -> np.ndarray:
    """``text`` spoken by espeak-ng, mono float32 at 16 kHz, leading/trailing silence trimmed."""
    need("espeak-ng")
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    samples, sr = soundfile.read(io.BytesIO(wav), dtype="float32")
    return trimmed(audio.to_mono_at(samples, sr, RATE))


def trimmed(samples: np.ndarray, floor_db: float = -45.0, keep_s: float = 0.05) -> np.ndarray:
    """Without the silence before the first and after the last sound (keeping ``keep_s``)."""
    loud = np.flatnonzero(np.abs(samples) > np.abs(samples).max() * 10 ** (floor_db / 20))
    keep = int(keep_s * RATE)
    return samples[max(loud[0] - keep, 0) : loud[-1] + keep + 1].copy()


def tempo(samples: np.ndarray, factor: float) -> np.ndarray:
    """sox ``tempo`` (WSOLA): the same pitch, ``1/factor`` times the duration."""
    need("sox")
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp, "in.wav"), Path(tmp, "out.wav")
        soundfile.write(source, samples, RATE, subtype="PCM_24")
        subprocess.run(["sox", str(source), str(target), "tempo", "-s", str(factor)], check=True)
        stretched, _ = soundfile.read(target, dtype="float32")
    return stretched


def active_rms(speech: np.ndarray) -> float:
    """RMS over the 20 ms frames that carry speech (within 40 dB of the loudest frame), so an
    SNR means the same for a sentence with pauses as for one without."""
    frame = RATE // 50
    frames = speech[: len(speech) // frame * frame].reshape(-1, frame)
    energy = (frames**2).mean(axis=1)
    return float(np.sqrt(energy[energy > energy.max() * 1e-4].mean()))


def speech_shaped_noise(length: int, like: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with the long-term spectrum of ``like`` (Welch estimate, FIR filter)."""
    freqs, power = signal.welch(like, fs=RATE, nperseg=64)
    fir = signal.firwin2(129, freqs, np.sqrt(power / power.max()), fs=RATE)
    white = rng.standard_normal(length + len(fir))
    return signal.lfilter(fir, 1.0, white)[len(fir) :].astype(np.float32)


def at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech`` plus ``noise`` scaled so active speech is ``snr_db`` above the noise RMS."""
    noise_rms = float(np.sqrt(np.mean(noise**2)))
    gain = active_rms(speech) / (noise_rms * 10 ** (snr_db / 20))
    return (speech + gain * noise).astype(np.float32)


def faded(samples: np.ndarray, fade_s: float = 0.03) -> np.ndarray:
    n = min(len(samples) // 2, int(fade_s * RATE))
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    out = samples.copy()
    out[:n] *= ramp if out.ndim == 1 else ramp[:, None]
    out[len(out) - n :] *= ramp[::-1] if out.ndim == 1 else ramp[::-1, None]
    return out


def peak_at(samples: np.ndarray, dbfs: float) -> np.ndarray:
    return (samples * (10 ** (dbfs / 20) / np.abs(samples).max())).astype(np.float32)


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def _ogg_crc(page: bytes) -> int:
    crc = 0
    for byte in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) & 0xFF) ^ byte]
    return crc


def stable_ogg(data: bytes, serial: int = OGG_SERIAL) -> bytes:
    """The OGG stream with a fixed serial number and its page checksums recomputed."""
    out, pos = bytearray(), 0
    while pos < len(data):
        if data[pos : pos + 4] != b"OggS":
            raise ValueError("not an OGG page")
        segments = data[pos + 26]
        table = data[pos + 27 : pos + 27 + segments]
        page = bytearray(data[pos : pos + 27 + segments + sum(table)])
        page[14:18] = serial.to_bytes(4, "little")
        page[22:26] = b"\0\0\0\0"
        page[22:26] = _ogg_crc(bytes(page)).to_bytes(4, "little")
        out += page
        pos += len(page)
    return bytes(out)


def ogg_bytes(samples: np.ndarray, compression_level: float = 0.6) -> bytes:
    """OGG Vorbis at 16 kHz, byte-for-byte the same on every run."""
    encoded = audio.clip_encode(samples, RATE, "ogg", compression_level=compression_level)
    return stable_ogg(encoded)
