"""The deployment files describe the platform that config/settings.py actually configures."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PLATFORM = REPO / "platform"
SETTINGS = REPO / "config" / "settings.py"


def settings_env_names() -> set[str]:
    """Every environment variable name config/settings.py reads, found in its source."""
    source = SETTINGS.read_text()
    pattern = r'(?:os\.environ\.get|env_str|env_bool|env_int|env_list)\(\s*"([A-Z][A-Z0-9_]+)"'
    return set(re.findall(pattern, source))


def documented_names() -> set[str]:
    text = (PLATFORM / "env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, flags=re.M))


def procfile() -> dict[str, str]:
    lines = (PLATFORM / "Procfile").read_text().splitlines()
    entries = [line.split(":", 1) for line in lines if line and not line.startswith("#")]
    return {name.strip(): command.strip() for name, command in entries}


def k8s_documents() -> list[dict]:
    """The resources kustomization.yaml applies, plus the Secret example kept out of it."""
    k8s = PLATFORM / "k8s"
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    docs = []
    for name in [*kustomization["resources"], "secret.example.yaml"]:
        docs += [doc for doc in yaml.safe_load_all((k8s / name).read_text()) if doc]
    return docs


def deployment(name: str) -> dict:
    return next(
        d for d in k8s_documents() if d["kind"] == "Deployment" and d["metadata"]["name"] == name
    )


def test_the_settings_reader_finds_the_settings_we_know_about():
    # Guards the regex above: if settings.py changes how it reads the environment, this fails
    # instead of the documentation test passing vacuously.
    assert {"DATABASE_URL", "SECRET_KEY", "CHORUS_ENV", "CELERY_BROKER_URL", "LOG_LEVEL"} <= (
        settings_env_names()
    )


def test_env_example_documents_every_setting_that_settings_py_reads():
    missing = settings_env_names() - documented_names()
    assert not missing, f"platform/env.example does not document: {sorted(missing)}"


def test_env_example_documents_nothing_that_nobody_reads():
    runners = {
        "DJANGO_SETTINGS_MODULE",
        "PORT",
        "WEB_CONCURRENCY",
        "WEB_THREADS",
        "WORKER_CONCURRENCY",
    }
    unknown = documented_names() - settings_env_names() - runners
    assert not unknown, f"platform/env.example documents unknown variables: {sorted(unknown)}"


def test_the_procfile_runs_web_cpu_worker_gpu_worker_and_beat():
    processes = procfile()
    assert processes["web"].startswith("gunicorn config.wsgi ")
    assert shlex.split(processes["worker"])[:6] == [
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        "default",
    ]
    gpu = shlex.split(processes["gpu-worker"])
    assert gpu[:6] == ["celery", "-A", "config", "worker", "-Q", "gpu"]
    assert gpu[gpu.index("--concurrency") + 1] == "1"
    assert gpu[gpu.index("--prefetch-multiplier") + 1] == "1"
    assert shlex.split(processes["beat"])[:4] == ["celery", "-A", "config", "beat"]


def test_every_systemd_unit_reads_the_environment_file_and_runs_from_the_checkout():
    units = {p.name: p.read_text() for p in (PLATFORM / "systemd").glob("*.service")}
    assert set(units) == {
        "chorus-web.service",
        "chorus-worker.service",
        "chorus-gpu-worker.service",
        "chorus-beat.service",
    }
    for name, text in units.items():
        assert "EnvironmentFile=/etc/chorus/chorus.env" in text, name
        assert re.search(r"^ExecStart=/opt/chorus/\.venv/bin/", text, flags=re.M), name
    assert "-Q gpu" in units["chorus-gpu-worker.service"]
    assert "--prefetch-multiplier 1" in units["chorus-gpu-worker.service"]
    assert "-Q default" in units["chorus-worker.service"]


def test_the_kubernetes_manifests_parse_and_cover_every_process():
    kinds = {(d["kind"], d["metadata"]["name"]) for d in k8s_documents()}
    assert {
        ("Deployment", "chorus-web"),
        ("Service", "chorus-web"),
        ("Deployment", "chorus-worker"),
        ("Deployment", "chorus-gpu-worker"),
        ("Deployment", "chorus-beat"),
        ("Job", "chorus-migrate"),
        ("ConfigMap", "chorus-config"),
        ("Secret", "chorus-secrets"),
    } <= kinds


def test_the_gpu_worker_asks_for_a_gpu_on_a_gpu_node_and_takes_one_task_at_a_time():
    spec = deployment("chorus-gpu-worker")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"]
    command = container["command"]
    assert command[command.index("-Q") + 1] == "gpu"
    assert command[command.index("--prefetch-multiplier") + 1] == "1"


def test_only_one_beat_runs_even_during_a_rollout():
    beat = deployment("chorus-beat")["spec"]
    assert beat["replicas"] == 1
    assert beat["strategy"]["type"] == "Recreate"


def test_the_configmap_only_sets_documented_settings_and_keeps_secrets_out():
    config = next(d for d in k8s_documents() if d["kind"] == "ConfigMap")["data"]
    assert set(config) <= documented_names()
    assert not {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"} & set(config)
    secret = next(d for d in k8s_documents() if d["kind"] == "Secret")["stringData"]
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"} <= set(secret)


def demo_workers() -> list[list[str]]:
    """The ``celery worker`` command lines platform/run-demo.sh starts, as argument lists."""
    script = (PLATFORM / "run-demo.sh").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in script.splitlines()]
    return [
        shlex.split(line.split(">", 1)[0])
        for line in lines
        if line.startswith("$BIN/celery") and " worker " in line
    ]


def test_the_demo_trains_on_its_own_worker_one_job_at_a_time_with_passive_threads():
    # Issue 14: one worker serving default and gpu at concurrency 2, with torch's threads
    # spinning, trained at 4 samples/s beside the web server; see bench/README.md.
    workers = {w[w.index("-Q") + 1]: w for w in demo_workers()}
    assert set(workers) == {"default", "gpu"}
    gpu = workers["gpu"]
    assert gpu[gpu.index("--concurrency") + 1] == "1"
    assert gpu[gpu.index("--prefetch-multiplier") + 1] == "1"
    assert "-B" in workers["default"] and "-B" not in gpu  # one beat
    names = {w[w.index("-n") + 1] for w in workers.values()}
    assert len(names) == 2  # two workers on one host need distinct node names
    script = (PLATFORM / "run-demo.sh").read_text()
    assert script.index('export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"') < script.index(
        "$BIN/celery"
    )
    assert "$WORKER $WEB" in script  # Ctrl-C stops both workers
