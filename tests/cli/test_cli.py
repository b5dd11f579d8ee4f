"""The ``lockstep`` command as a user runs it: real processes, real database, one-line errors."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "example-brand.yaml"
LOCKSTEP = [sys.executable, "-m", "lockstep.cli"]
SECRETS = {
    name: f"test-secret-value-{i}"
    for i, name in enumerate(
        [
            "NORDWIND_CENTRA_TOKEN",
            "NORDWIND_CENTRA_WEBHOOK_SECRET",
            "NORDWIND_DEPOSCO_CLIENT_ID",
            "NORDWIND_DEPOSCO_CLIENT_SECRET",
            "NORDWIND_DEPOSCO_V1_USER",
            "NORDWIND_DEPOSCO_V1_PASSWORD",
            "NORDWIND_SLACK_OPS_WEBHOOK",
            "NORDWIND_SLACK_ECOM_WEBHOOK",
            "NORDWIND_SLACK_TECH_WEBHOOK",
            "NORDWIND_PAGER_WEBHOOK",
        ]
    )
}


def lockstep(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 60):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LOCKSTEP_", "NORDWIND_"))}
    return subprocess.run(
        [*LOCKSTEP, *args],
        capture_output=True,
        text=True,
        env={**base, "COLUMNS": "200", **(env or {})},
        cwd=cwd or ROOT,
        timeout=timeout,
    )


@pytest.fixture
def config_copy(tmp_path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "example-brand.yaml")
    return folder


def edit(folder: Path, change) -> None:
    from lockstep.config.loader import read_yaml

    path = folder / "example-brand.yaml"
    data, problems = read_yaml(path, path.name)  # the project's loader: `NO` stays Norway, not False
    assert not problems
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_help_lists_the_commands():
    result = lockstep("--help")
    assert result.returncode == 0
    for name in ("init", "check", "run", "worker", "jobs", "exceptions", "demo", "db"):
        assert name in result.stdout


def test_check_on_the_example_prints_the_mapping():
    result = lockstep("check")
    assert result.returncode == 0, result.stderr
    assert "stock pool -> facility" in result.stdout
    for code in ("SE-STO", "GB-MKN", "US-NJ"):
        assert code in result.stdout
    assert "pool 'us' has no live facility" in result.stderr  # a warning, not a failure


def test_check_refuses_a_facility_shared_at_100_percent_by_two_pools(config_copy):
    def share_fully(data):
        for pool in data["pools"]:
            for entry in pool["facilities"]:
                if entry["facility"] == "SE-STO":
                    entry["share"] = 1.0

    edit(config_copy, share_fully)
    result = lockstep("--config-dir", str(config_copy), "check")
    assert result.returncode == 1
    assert "SE-STO" in result.stderr
    assert "stock pool -> facility" not in result.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("brand: [unclosed\n", "line"),
        ("brand: nordwind\nname: X\ntimezone: UTC\nunknown_key: 1\n", "unknown_key"),
    ],
)
def test_bad_brand_files_give_one_line_errors(tmp_path, content, expected):
    (tmp_path / "brand.yaml").write_text(content)
    result = lockstep("--config-dir", str(tmp_path), "check")
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_empty_config_dir_is_refused(tmp_path):
    result = lockstep("--config-dir", str(tmp_path), "check")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()


def test_unreachable_database_is_one_line_and_writes_nothing(tmp_path):
    result = lockstep("--database-url", "postgresql://nobody@127.0.0.1:1/none", "jobs", "list")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: database unreachable")


def test_run_refuses_to_start_without_secrets(tmp_path):
    result = lockstep("--database-url", f"sqlite:///{tmp_path}/x.db", "run")
    assert result.returncode == 1
    assert "NORDWIND_CENTRA_TOKEN" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_init_writes_a_valid_example(tmp_path):
    target = tmp_path / "fresh"
    assert lockstep("init", str(target)).returncode == 0
    assert lockstep("--config-dir", str(target), "check").returncode == 0
    again = lockstep("init", str(target))
    assert again.returncode == 1 and "already exists" in again.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_serves_health_and_metrics_then_stops_on_sigterm(tmp_path, db_url):
    port = _free_port()
    env = {**SECRETS, "LOCKSTEP_DATABASE_URL": db_url, "LOCKSTEP_API_PORT": str(port)}
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOCKSTEP_")}
    proc = subprocess.Popen(
        [*LOCKSTEP, "run"], env={**base, **env}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "lockstep run did not become ready"
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        deadline = time.monotonic() + 15
        done = 'lockstep_jobs_finished_total{outcome="done",task="monitor.config"} 1.0'
        while done not in (metrics := httpx.get(f"http://127.0.0.1:{port}/metrics").text):
            assert time.monotonic() < deadline, "the scheduled config monitor job never ran"
            time.sleep(0.3)
        assert 'lockstep_queue_jobs{status="done"}' in metrics
        assert 'lockstep_stock_sync_lag_seconds{brand="nordwind"} 0.0' in metrics
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "worker stopped" in output
    assert all(value not in output for value in SECRETS.values())

    listed = lockstep("exceptions", "list", env={"LOCKSTEP_DATABASE_URL": db_url})
    assert "mapping_invalid" in listed.stdout


def test_jobs_and_exceptions_commands(tmp_path):
    import asyncio

    from lockstep.queue import PermanentError, TaskRegistry, Worker, enqueue
    from lockstep.store import migrate
    from lockstep.store.db import create_engine

    url = f"sqlite:///{tmp_path}/cli.db"

    async def prepare():
        engine = create_engine(url)
        await migrate.upgrade(engine)
        registry = TaskRegistry()

        @registry.task("demo.fail")
        async def fail(ctx):
            raise PermanentError("refused by Deposco: unknown item X-1")

        async with engine.begin() as conn:
            await enqueue(conn, brand="nordwind", task="demo.fail", payload={"order": "1001"})
        await Worker(engine, registry).run(asyncio.Event(), until_idle=True)
        await engine.dispose()

    asyncio.run(prepare())
    env = {"LOCKSTEP_DATABASE_URL": url}
    listed = lockstep("jobs", "list", "--status", "dead", env=env)
    assert listed.returncode == 0 and "demo.fail" in listed.stdout and "dead 1" in listed.stdout
    shown = lockstep("jobs", "show", "1", env=env)
    assert '"status": "dead"' in shown.stdout and "unknown item X-1" in shown.stdout
    assert lockstep("jobs", "retry", "1", env=env).returncode == 0
    assert "pending 1" in lockstep("jobs", "list", env=env).stdout
    missing = lockstep("jobs", "show", "99", env=env)
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no job 99"

    exceptions = lockstep("exceptions", "list", "--team", "tech", env=env)
    assert "job_dead" in exceptions.stdout
    assert lockstep("exceptions", "ack", "1", env=env).returncode == 0
    assert "acknowledged" in lockstep("exceptions", "list", env=env).stdout
    assert lockstep("exceptions", "resolve", "1", env=env).returncode == 0
    assert "job_dead" not in lockstep("exceptions", "list", env=env).stdout
    assert "job_dead" in lockstep("exceptions", "list", "--all", env=env).stdout
    again = lockstep("exceptions", "resolve", "1", env=env)
    assert again.returncode == 1 and "resolved" in again.stderr
    shown = lockstep("exceptions", "show", "1", env=env)
    assert "docs/playbooks/job-dead.md" in shown.stdout


def test_demo_runs_to_the_end(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    result = lockstep("demo", "--seconds", "2", cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "migrated to revision" in result.stdout
    assert "scheduler fired nordwind/config_monitor" in result.stdout
    assert "mapping_invalid" in result.stdout
    assert "Centra simulator  http://127.0.0.1:" in result.stdout
    assert "token accepted" in result.stdout and "credentials accepted" in result.stdout
    assert "simulators stopped" in result.stdout
    assert "C1004-SE-STO @ SE-STO" in result.stdout  # Ireland goes to Stockholm by the routing override
    assert "quarantined" in result.stdout and "facility_not_live" in result.stdout
    assert "shipped in Deposco -> completed in Centra" in result.stdout and "done, e-mail" in result.stdout
    assert (tmp_path / "var" / "demo.db").exists()
