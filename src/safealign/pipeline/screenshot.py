"""A picture of a report as a person sees it: headless Chromium renders the HTML file to a PNG.

Used to check a report by eye (`safealign report RUN_DIR --screenshot PNG`) and by a test that
checks the page is not blank. The browser runs with a throw-away profile and no network features,
and reads the file from disk; the report itself needs nothing else (plots are embedded).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from safealign.errors import ConfigError, DataError
from safealign.io import atomic_path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    """The first headless-capable Chromium on PATH, or None."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def screenshot(
    page: Path, out: Path, *, width: int = 1280, height: int = 4000, timeout: float = 180
) -> Path:
    """Render `page` (an HTML file) in headless Chromium and save the window as PNG at `out`."""
    page = Path(page)
    if not page.is_file():
        raise DataError("no such HTML file", path=page, fix="Render the report first.")
    browser = find_browser()
    if browser is None:
        raise ConfigError(
            "no Chromium on PATH for the screenshot. Install it (Debian: apt-get install -y "
            "chromium) or leave out --screenshot."
        )
    with (
        tempfile.TemporaryDirectory(prefix="safealign-chromium-") as profile,
        atomic_path(out) as staged,
    ):
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={staged.resolve()}",
            f"--window-size={width},{height}",
            page.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ConfigError(f"{browser} took over {timeout:.0f} s to render {page}") from exc
        if done.returncode != 0 or not staged.is_file():
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise ConfigError(
                f"{browser} failed to take the screenshot of {page} "
                f"(exit {done.returncode}): {tail}"
            )
    return Path(out)
