"""A real browser for the console's tests and screenshots: Debian's Chromium driven by Playwright.

Playwright's own browser download cannot work on these machines, so it drives the system's
Chromium (`apt-get install chromium`, /usr/bin/chromium) through `executable_path`, headless and
with the background services off (they would only knock on a closed network).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("CHROMIUM") or "/usr/bin/chromium")
ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
INSTALL_HINT = "install it with `apt-get install chromium` (.ci/run does) or point $CHROMIUM at a Chromium binary"


class BrowserMissing(RuntimeError):
    """No Chromium to drive; the message says how to get one."""


def chromium(install: bool = False) -> Path:
    """The Chromium binary; with `install`, as root with apt-get, install Debian's package first."""
    if CHROMIUM.exists():
        return CHROMIUM
    if install and shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": False}
        if subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], **quiet).returncode:
            subprocess.run(["apt-get", "update"], **quiet)
            subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], **quiet)
        if CHROMIUM.exists():
            return CHROMIUM
    raise BrowserMissing(f"no Chromium at {CHROMIUM}: {INSTALL_HINT}")


@contextmanager
def launched(install: bool = False) -> Iterator[Any]:
    """A headless Chromium (a Playwright `Browser`), closed on exit."""
    try:
        from playwright.sync_api import sync_playwright  # dev-only dependency
    except ImportError:
        raise BrowserMissing("playwright is not installed: pip install -r requirements-dev.txt") from None
    executable = chromium(install)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=list(ARGS))
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page_file: Path, out: Path, width: int = 1280, height: int = 820, open_first: bool = True) -> Path:
    """A PNG of the page as opened from disk, with the first stream's details open."""
    with launched() as browser:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(page_file.resolve().as_uri())
        if open_first:
            heads = page.locator(".stream .head")
            target = page.locator(".stream:has(.chip.Block) .head")
            (target.first if target.count() else heads.first).click()
            page.wait_for_selector(".thumb img")
            page.wait_for_load_state("networkidle")  # the first thumbnails' pictures
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
    return out
