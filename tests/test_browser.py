"""The pages a person sees, opened in a real browser (Debian's chromium, driven by Selenium through
Debian's chromedriver; installed by tests/browser/browser-up.sh like the SLURM lane's packages).

1. A person logs in to majora-lite (password, then the two-factor page when the server has one),
   approves the consent page, and the callback URL the browser lands on completes
   `snakemake-majora login --callback-url -`.
2. The demo's Snakemake report opens, and its plots and their captions render.

Screenshots of every step land in the test's tmp directory (``tmp_path``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import sys
import time
from pathlib import Path

import pytest
from browser.chrome import chrome_session
from fixtures_client import MajoraHome

from majora_lite.ops.harness import LiteServer

ROOT = Path(__file__).resolve().parents[1]
WAIT = 30.0

# The browser lane: not in `make test` (see the Makefile), run with `make test-lanes`.
pytestmark = pytest.mark.browser


@pytest.fixture
def chrome(tmp_path):
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    yield from chrome_session(profile)


def _wait(drv, condition, what: str, timeout: float = WAIT):
    """Poll the page until ``condition(drv)`` is truthy (pages load and scripts run asynchronously)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(drv, timeout, poll_frequency=0.2).until(condition, message=f"waiting for {what}")


def _shot(drv, out: Path, name: str) -> Path:
    path = out / f"{name}.png"
    drv.save_screenshot(str(path))
    assert path.stat().st_size > 0
    return path


def _totp(secret_b32: str, at: float | None = None) -> str:
    """RFC 6238 code (SHA-1, 30 s, 6 digits), as an authenticator app computes it from the secret."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // 30)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


@pytest.fixture
def person_lite(tmp_path):
    """A majora-lite with a person who has a password and, where majora-lite supports it, a TOTP device."""
    server = LiteServer(tmp_path / "lite")
    out = server.setup({
        "seed": {"biosamples": 5},
        "users": [{"username": "bob", "password": "bob-pw-4711", "org": "HOOT", "all_perms": True,
                   "totp": True}],
        "apps": [{"name": "browser-test"}],
    })
    server.start()
    try:
        yield server, out["users"][0], out["apps"][0]
    finally:
        server.stop()


def test_person_logs_in_approves_and_the_callback_completes_login(chrome, person_lite, tmp_path):
    from selenium.webdriver.common.by import By

    server, user, app = person_lite
    lite = {"url": server.url, "username": "bob", "password": "bob-pw-4711", "client_id": app["client_id"],
            "client_secret": app["client_secret"]}
    home = MajoraHome(type("Lite", (), lite), tmp_path / "person", login=False)
    authorize_url = home.cli("login", "--url-only").stdout.strip()
    assert authorize_url.startswith(server.url)

    chrome.get(authorize_url)
    _wait(chrome, lambda d: d.find_elements(By.NAME, "password"), "the login page")
    _shot(chrome, tmp_path, "1-login")
    chrome.find_element(By.NAME, "username").send_keys("bob")
    chrome.find_element(By.NAME, "password").send_keys("bob-pw-4711")
    chrome.find_element(By.CSS_SELECTOR, "form [type=submit]").click()

    def next_page(d):
        return (d.find_elements(By.NAME, "otp_token") or d.find_elements(By.NAME, "allow")
                or d.find_elements(By.ID, "full_uri") or "code=" in d.current_url)

    _wait(chrome, next_page, "the two-factor or the consent page")
    if chrome.find_elements(By.NAME, "otp_token"):
        # Majora's second factor: the code of the person's authenticator (computed from the secret the
        # server gave when the device was made).
        assert user.get("totp_secret"), "the server asks for a TOTP code but gave no device secret"
        _shot(chrome, tmp_path, "2-two-factor")
        chrome.find_element(By.NAME, "otp_token").send_keys(_totp(user["totp_secret"]))
        chrome.find_element(By.CSS_SELECTOR, "form [type=submit]").click()
        _wait(chrome, lambda d: d.find_elements(By.NAME, "allow") or d.find_elements(By.ID, "full_uri")
              or "code=" in d.current_url, "the consent page")
    else:
        # A server without Majora's two-factor step (no device was made): straight to consent.
        assert not user.get("totp_secret"), "the person has a TOTP device but was never asked for a code"
        print("majora-lite showed no two-factor page (the person has no TOTP device)", file=sys.stderr)

    if chrome.find_elements(By.NAME, "allow"):
        _shot(chrome, tmp_path, "3-consent")
        assert "browser-test" in chrome.page_source  # the consent page names the application
        chrome.find_element(By.CSS_SELECTOR, "[name=allow][type=submit], input[name=allow]").click()
    _wait(chrome, lambda d: d.find_elements(By.ID, "full_uri") or "code=" in d.current_url,
          "the callback page")
    _shot(chrome, tmp_path, "4-callback")
    shown = chrome.find_elements(By.ID, "full_uri")
    callback = shown[0].text.strip() if shown else chrome.current_url
    assert "code=" in callback and "state=" in callback

    done = home.cli("login", "--callback-url", "-", input=callback)
    assert done.returncode == 0
    status = home.cli("status")
    assert "bob" in status.stdout + status.stderr
    store = home.read_store()
    assert store["generation"] == 1 and store.get("access_token")
    assert store["access_token"] not in done.stdout + done.stderr + status.stdout + status.stderr


@pytest.fixture
def demo_report(demo_run) -> Path:
    """The demo's report (the session's one demo run: majora-lite, real login, the workflow, `--report`)."""
    proc = demo_run.first
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    report = demo_run.state / "report.html"
    assert report.stat().st_size > 0
    return report


PLOTS = {
    # plot -> words of its caption (workflow/report/*.rst), the second with the config rendered in
    "samples_per_region_week.png": "Samples of the batch per region",
    "qc_pass_fail.png": "genome coverage of at least 90.0%",
}


def _open_results(drv):
    """Show the list of result files (from the start page, a picture or a caption)."""
    from selenium.webdriver.common.by import By

    rows = "//tr[td[contains(., 'results/plots/')]]"

    def listed(d):
        if d.find_elements(By.XPATH, rows):
            return True
        # The report is a single-page app: click through Results, then the plots' category ("Batch"),
        # again on the next poll if the app had not attached its handlers yet.
        for xpath in (BATCH, "//a[normalize-space()='Results']"):
            shown = [e for e in d.find_elements(By.XPATH, xpath) if e.is_displayed()]
            if shown:
                shown[0].click()
                return False
        return False

    _wait(drv, listed, "the list of result files")


INFO = "[iconname=information-circle]"
BATCH = "//tr[td[normalize-space()='Batch']] | //li[normalize-space()='Batch']"


def test_demo_report_opens_and_its_plots_and_captions_render(chrome, demo_report, tmp_path):
    from selenium.webdriver.common.by import By

    chrome.get(demo_report.as_uri())
    _wait(chrome, lambda d: d.find_elements(By.XPATH, "//a[normalize-space()='Results']"), "the report")
    _shot(chrome, tmp_path, "report-1-start")
    assert "Sequencing batch demo-batch" in chrome.find_element(By.TAG_NAME, "body").text

    for n, (plot, caption) in enumerate(PLOTS.items(), start=2):
        row = f"//tr[td[normalize-space()='results/plots/{plot}']]"
        _open_results(chrome)
        chrome.find_element(By.XPATH, row).find_element(By.CSS_SELECTOR, "[iconname=eye]").click()
        # The plot is embedded in the report as a data: URL; it must decode into a real picture.
        image = _wait(chrome, lambda d, plot=plot: [
            i for i in d.find_elements(By.CSS_SELECTOR, f"img[src*='filename={plot}']")
            if i.is_displayed() and int(i.get_attribute("naturalWidth") or 0) > 100
        ], f"the picture of {plot}")[0]
        assert int(image.get_attribute("naturalHeight")) > 100
        _shot(chrome, tmp_path, f"report-{n}-{plot.removesuffix('.png')}")

        _open_results(chrome)
        chrome.find_element(By.XPATH, row).find_element(By.CSS_SELECTOR, INFO).click()
        text = _wait(chrome, lambda d, caption=caption: caption in d.find_element(By.TAG_NAME, "body").text
                     and d.find_element(By.TAG_NAME, "body").text, f"the caption of {plot}")
        assert "DESCRIPTION" in text.upper() and "{{" not in text and "snakemake.config" not in text
        _shot(chrome, tmp_path, f"report-{n}-{plot.removesuffix('.png')}-caption")
