"""Headless Chromium for tests that open generated pages (Debian package ``chromium``)."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest


def find_browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless browser: none of chromium, chromium-browser, google-chrome on PATH")


def dump_dom(browser: str, page: Path, profile: Path) -> str:
    """The DOM after the page's scripts ran; the virtual-time budget lets media metadata load."""
    command = [
        browser,
        "--headless=new",
        "--no-sandbox",  # tests may run as root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",  # never the user's profile, never shared between runs
        "--allow-file-access-from-files",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


class Page(HTMLParser):
    """The parts of a page the report tests look at: title, body data, players, images."""

    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.body: dict[str, str | None] = {}
        self.players: list[dict[str, str | None]] = []
        self.images: list[str | None] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "body":
            self.body = dict(attrs)
        elif tag == "audio":
            self.players.append(dict(attrs))
        elif tag == "img":
            self.images.append(dict(attrs).get("src"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def parse_page(page: str) -> Page:
    dom = Page()
    dom.feed(page)
    dom.close()
    return dom
