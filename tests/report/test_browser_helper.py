"""The headless-Chromium helper on hand-written pages: a clean one, and one with a broken image and an error."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def _png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid RGB PNG of one colour, written by hand (signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width  # filter type 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _page(body: str, title: str = "helper test") -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<link rel="icon" href="data:,"><title>{title}</title></head>\n<body>\n{body}\n</body></html>\n'
    )


def test_clean_page(tmp_path: Path, browser) -> None:
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "dot.png").write_bytes(_png())
    data_uri = "data:image/png;base64," + base64.b64encode(_png(rgb=(30, 30, 200))).decode()
    rows = "".join(f"<tr><td>m{i}</td><td>{i / 10}</td></tr>" for i in range(3))
    html = tmp_path / "index.html"
    html.write_text(
        _page(
            '<h1>Report</h1>\n<img src="figures/dot.png" alt="file">\n'
            f'<img src="{data_uri}" alt="embedded">\n'
            '<table id="leaderboard"><thead><tr><th>method</th><th>cvar</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    )
    shot = tmp_path / "out" / "clean.png"

    check = browser.check_page(html, shot)

    assert check.console_errors == []
    assert check.images == 2
    assert check.broken_images == []
    assert check.table_rows == {"leaderboard": 3}
    assert check.title == "helper test"
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1400, 2000)  # IHDR: the viewport, the page being short


def test_broken_image_and_console_error(tmp_path: Path, browser) -> None:
    html = tmp_path / "index.html"
    html.write_text(
        _page(
            '<img src="missing.png" alt="missing">\n'
            '<table id="a"><tbody><tr><td>1</td></tr></tbody></table>\n<table><tr><td>no id</td></tr></table>\n'
            '<script>console.error("boom")</script>'
        )
    )
    shot = tmp_path / "broken.png"

    check = browser.check_page(html, shot)

    assert check.images == 1
    assert check.broken_images == ["missing.png"]
    assert any("boom" in e for e in check.console_errors), check.console_errors
    assert any("missing.png" in e for e in check.console_errors), check.console_errors
    assert check.table_rows == {"a": 1}
    assert shot.is_file()


def test_skip_reason_without_chromium(monkeypatch: pytest.MonkeyPatch, browser_helper) -> None:
    monkeypatch.setattr(browser_helper, "chromium_paths", lambda: None)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"):
        browser_helper.require_chromium()
