"""The MOS listener bench runs end to end against a real gunicorn server (tiny, on SQLite)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import _server  # noqa: E402

# One mode per run (each takes ~20 s of real listening): nginx where it is installed, the
# way production serves media, else Python streaming the clips.
MODES = [
    pytest.param(["--media", "x-accel"], id="x-accel-nginx")
    if _server.nginx_binary() is not None
    else pytest.param(["--media", "python", "--no-proxy"], id="python-direct")
]


def _run(command: list[str], *, timeout: float) -> subprocess.CompletedProcess:
    """Run the bench; on a timeout TERM it first (it then stops its gunicorn and nginx)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        stdout, stderr = process.communicate(timeout=60)
        pytest.fail(f"the bench did not finish in {timeout:.0f}s:\n{stdout}\n{stderr}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.parametrize("mode", MODES)
def test_the_listener_bench_hears_every_clip_and_counts_who_sent_the_bytes(tmp_path, mode):
    out = tmp_path / "figures.json"
    result = _run(
        [
            sys.executable,
            str(REPO / "bench" / "mos_listeners.py"),
            "--sqlite",
            "--var-dir",
            str(tmp_path),
            "--listeners",
            "2",
            "--clips",
            "2",
            "--workers",
            "2",
            "--threads",
            "2",
            "--stagger-s",
            "0",
            "--no-text",
            "--json",
            str(out),
            *mode,
        ],
        timeout=240,
    )
    print(result.stdout)  # the bench's own report, shown by pytest when an assertion fails
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text())
    assert figures["errors"] == {}
    assert not any(figures["violations"].values()), figures["violations"]
    client = figures["client"]
    assert client["rated"] == client["accepted"] == 4
    assert client["clips_fetched"] == 4 and client["media_requests"] == 8  # two ranges each
    assert figures["latency"]["play event"]["n"] == 8  # started and ended per clip
    python_bytes = figures["gunicorn log"]["media body bytes sent by Python"]
    if "x-accel" in mode:
        nginx = figures["nginx log"]
        assert python_bytes == 0
        assert figures["gunicorn log"]["with X-Accel-Redirect"] == 8
        assert nginx["media bytes nginx sent from disk"] == client["media_bytes"]
        assert nginx["media body bytes from Python (upstream)"] == 0
    else:
        assert python_bytes == client["media_bytes"] > 0


def test_flac_duration_reads_streaminfo_as_soundfile_does(tmp_path):
    import io

    import mos_listeners
    import numpy as np
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(22050 * 3 + 17, dtype="float32"), 22050, format="FLAC")
    data = buffer.getvalue()
    info = soundfile.info(io.BytesIO(data))
    assert mos_listeners.flac_duration(data[:64]) == pytest.approx(info.duration, abs=1e-9)
    with pytest.raises(ValueError):
        mos_listeners.flac_duration(b"OggS" + data[4:64])
