"""Debian's chromium driven by Selenium through Debian's chromedriver, for the browser tests.

`browser-up.sh` installs the two packages with apt when they are missing (as root). Where that is
impossible the browser tests are skipped with a loud reason, except on CI (``CI=true``), where they must
run and a failure to start fails. Selenium's own driver manager is never used (it would download a
browser); the executables are given explicitly.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EX_NOPERM = 77


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def executables() -> tuple[str, str]:
    """``(chromium, chromedriver)``, installing them if needed; skip or fail as described above."""
    proc = subprocess.run(["bash", str(HERE / "browser-up.sh")], capture_output=True, text=True,
                          timeout=900, check=False)
    if proc.returncode == EX_NOPERM and not _on_ci():
        pytest.skip(f"BROWSER TESTS SKIPPED: cannot install chromium here: {proc.stderr.strip()}")
    if proc.returncode != 0:
        pytest.fail(f"browser-up.sh failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    browser, driver = proc.stdout.split()
    return browser, driver


def chrome_session(profile_dir: Path) -> Iterator[object]:
    """Body of a fixture: a headless chromium WebDriver session, quit afterwards."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:  # the dev extra was not installed
        if _on_ci():
            pytest.fail(f"selenium is not installed: {exc}")
        pytest.skip(f"BROWSER TESTS SKIPPED: selenium is not installed ({exc}); pip install -e '.[dev]'")
    browser, driver_path = executables()
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", f"--user-data-dir={profile_dir}",
                # file:// pages (the Snakemake report) may load their own embedded resources
                "--allow-file-access-from-files"):
        opts.add_argument(arg)
    service = Service(executable_path=driver_path, log_output=str(profile_dir / "chromedriver.log"))
    drv = webdriver.Chrome(service=service, options=opts)
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()
