"""Device choice: CUDA (with bf16 autocast) when present, else CPU, through the same code path."""

from __future__ import annotations

import contextlib

import torch


def pick_device(prefer: str | None = None) -> torch.device:
    """``prefer`` ("cpu", "cuda", "cuda:1") wins; otherwise CUDA when available, else CPU."""
    if prefer:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"Device {prefer!r} was asked for but CUDA is not available.")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on a CUDA card that supports it; a no-op elsewhere.

    On CPU we stay in float32: CPU bf16 autocast is slower than fp32 on most servers and
    changes numerics between the test machine and a laptop.
    """
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_threads(count: int = 0) -> int:
    """Use ``count`` CPU threads for torch's operators (0: keep its default); returns the number.

    torch's default is one thread per core, each spinning while it waits for work. On a box
    whose cores are shared (the embedded demo: web server, worker and browser on two cores)
    spinning threads fight the other processes for the same cores and training runs several
    times slower than with fewer threads; ``CHORUS_TORCH_THREADS`` caps them.
    """
    if count > 0 and count != torch.get_num_threads():
        torch.set_num_threads(count)
    return torch.get_num_threads()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"
