"""Open an HTML page in headless Chromium (Debian's chromium + chromedriver) and report what a reader sees.

Used by the report tests: console errors, broken images, table body rows, a full-page screenshot. Nothing
is downloaded: the driver path is explicit and Selenium Manager runs offline.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SKIP_REASON = (
    "no Chromium: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
)

_COLLECT = """
const imgs = Array.from(document.images);
const rows = {};
for (const t of document.querySelectorAll("table[id]")) {
  rows[t.id] = t.querySelectorAll(":scope > tbody > tr").length;
}
return {
  title: document.title,
  images: imgs.length,
  broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => (i.getAttribute("src") || "").slice(0, 80)),
  rows: rows,
};
"""
_READY = 'return document.readyState === "complete" && Array.from(document.images).every(i => i.complete);'
_MAX_HEIGHT = 16384  # so a runaway page cannot make a gigantic screenshot
_PAGE_HEIGHT = "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight);"


@dataclass
class PageCheck:
    console_errors: list[str]  # SEVERE browser log entries (console errors, failed resource loads)
    images: int  # number of <img> elements
    broken_images: list[str]  # src (first 80 chars) of images not complete or with naturalWidth == 0
    table_rows: dict[str, int]  # table element id -> number of <tbody><tr> rows, for every <table id=...>
    title: str
    probed: object = None  # what the ``probe`` script returned (JSON-like), None without one


def _which(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
        if os.access(f"/usr/bin/{name}", os.X_OK):
            return f"/usr/bin/{name}"
    return None


def chromium_paths() -> tuple[str, str] | None:
    """(chromium binary, chromedriver) when both are installed, else None."""
    browser = _which("chromium", "chromium-browser")
    driver = _which("chromedriver")
    return (browser, driver) if browser and driver else None


def require_chromium() -> tuple[str, str]:
    """chromium_paths(), or skip the calling test with the reason and the install command."""
    paths = chromium_paths()
    if paths is None:
        pytest.skip(SKIP_REASON)
    return paths


def _resize_viewport(driver, width: int, height: int) -> None:
    """Make the visible page (what save_screenshot captures) width x height: the window adds its frame."""
    driver.set_window_size(width, height)
    inner_w, inner_h = driver.execute_script("return [window.innerWidth, window.innerHeight];")
    if (inner_w, inner_h) != (width, height):
        driver.set_window_size(2 * width - int(inner_w), 2 * height - int(inner_h))


def check_page(
    html: Path, screenshot: Path, *, width: int = 1400, height: int = 2000, probe: str | None = None
) -> PageCheck:
    """Load ``html`` from disk, wait for it and its images (10 s at most), collect the checks, screenshot it.
    ``probe``: a script body (``return ...;``) run on the loaded page at ``width``; its result is ``probed``.

    The screenshot (PNG) is ``width`` wide and as tall as the page: at least ``height``, at most 16384.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = require_chromium()
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never try to download a driver
    browser, chromedriver = paths
    screenshot = Path(screenshot)
    screenshot.parent.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="rsbench-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--allow-file-access-from-files",
            f"--window-size={width},{height}",
        ):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(chromedriver))
        try:
            driver.get(Path(html).resolve().as_uri())
            deadline = time.monotonic() + 10.0
            while not driver.execute_script(_READY) and time.monotonic() < deadline:
                time.sleep(0.1)
            found = driver.execute_script(_COLLECT)
            probed = driver.execute_script(probe) if probe else None
            errors = [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
            _resize_viewport(
                driver, width, min(max(height, int(driver.execute_script(_PAGE_HEIGHT))), _MAX_HEIGHT)
            )
            if not driver.save_screenshot(str(screenshot)):
                raise RuntimeError(f"chromium could not write the screenshot {screenshot}")
        finally:
            driver.quit()

    return PageCheck(
        console_errors=errors,
        images=int(found["images"]),
        broken_images=list(found["broken"]),
        table_rows={k: int(v) for k, v in found["rows"].items()},
        title=str(found["title"]),
        probed=probed,
    )
