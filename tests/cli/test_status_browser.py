"""The status page, as a person sees it in a real headless browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import Workdir, free_port, get, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.realtime, pytest.mark.slow]

DEMO_JOBS = ("ping", "flaky_sync", "build_report", "export_snapshot", "rotate_logs")


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    reason = "no Chromium on this machine (Debian package chromium)"
    if os.environ.get("OBSSCHED_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def browse(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium the way this machine allows (no sandbox as root, no network)."""
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_status_page_renders_every_job_and_outcome(workdir: Workdir, start) -> None:
    """In Chromium the page lists each demo job with its trigger and last outcome."""
    browser = chromium()
    port = free_port()
    start("demo", "--duration", "40", "--metrics-port", str(port), "--store", workdir.store)
    base = f"http://127.0.0.1:{port}"
    # A job's failed run, not any text with "error" in it (the page also says when the job
    # stores have not answered yet, as while the scheduler is still starting).
    wait_until(
        "a failed run to be recorded",
        lambda: '"outcome": "error"' in get(f"{base}/status.json")[1],
        20,
    )

    # The page fills itself in from the JSON API: give its script time before the dump.
    budget = "--virtual-time-budget=10000"
    dom = browse(browser, workdir.path / "profile", budget, "--dump-dom", f"{base}/")
    assert dom.returncode == 0, dom.stderr
    for job in DEMO_JOBS:
        assert job in dom.stdout, dom.stdout
    assert "interval[0:00:02]" in dom.stdout
    assert "error" in dom.stdout
    assert re.search(r'href="/?metrics"', dom.stdout)

    shot = workdir.path / "status.png"
    result = browse(
        browser, workdir.path / "profile", f"--screenshot={shot}", "--window-size=1280,900", base
    )
    assert result.returncode == 0, result.stderr
    assert shot.stat().st_size > 10_000
