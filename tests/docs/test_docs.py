"""The documentation site builds strictly, and strict mode really fails on a broken link."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")


def _build(tmp_path: Path, plant: str | None = None) -> subprocess.CompletedProcess[str]:
    """Build a copy of docs/ (with ``plant`` appended to concepts.md) into tmp_path/site, as scripts/test.sh does."""
    docs = tmp_path / "docs"
    shutil.copytree(REPO / "docs", docs, dirs_exist_ok=True)
    if plant is not None:
        with open(docs / "concepts.md", "a") as page:
            page.write(f"\n{plant}\n")
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    config["docs_dir"] = str(docs)
    config["site_dir"] = str(tmp_path / "site")
    for plugin in config["plugins"]:
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            plugin["mkdocstrings"]["handlers"]["python"]["paths"] = [str(REPO)]
    for extension in config["markdown_extensions"]:
        if isinstance(extension, dict) and "pymdownx.snippets" in extension:
            extension["pymdownx.snippets"]["base_path"] = [str(REPO)]  # the records live outside docs/
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml")],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs as they are, built strictly once for this module's tests."""
    where = tmp_path_factory.mktemp("docs")
    done = _build(where)
    assert done.returncode == 0, done.stderr
    return where / "site"


def test_docs_build_strictly(site: Path) -> None:
    api = (site / "api" / "index.html").read_text()
    assert 'id="rsbench.suite.validate_suite"' in api  # mkdocstrings rendered the docstrings


def test_broken_links_and_orphan_pages_fail_the_build(tmp_path: Path) -> None:
    """One build with three planted faults (strict mode reports every warning, then aborts)."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "orphan.md").write_text("# Orphan\n")  # a page missing from the nav
    done = _build(tmp_path, "[gone](no-such-page.md) [gone](api.md#rsbench.no_such_thing)")
    assert done.returncode != 0
    assert "orphan.md" in done.stderr
    assert "no-such-page.md" in done.stderr and "#rsbench.no_such_thing" in done.stderr


def test_a_missing_record_fails_the_build(tmp_path: Path) -> None:
    """docs/published.md embeds records: one that is not committed stops the build, never renders empty."""
    done = _build(tmp_path, '--8<-- "records/no-such-record/leaderboard.md"')
    assert done.returncode != 0
    assert "records/no-such-record/leaderboard.md" in done.stderr


def test_docstrings_cite_the_docs_not_the_outside_design() -> None:
    # DESIGN.md lives outside the repository: a contributor cannot follow a citation of it.
    citing = [
        str(p.relative_to(REPO))
        for p in sorted((REPO / "rsbench").rglob("*.py"))
        if "DESIGN.md" in p.read_text() or "DESIGN §" in p.read_text()
    ]
    assert citing == [], "cite docs/design.md §N instead"


@pytest.mark.browser
def test_the_built_site_opens_in_a_browser(site: Path, browser, tmp_path: Path) -> None:
    """The index and the page that embeds the records render with no console error (file://, no network)."""
    home = browser.check_page(site / "index.html", tmp_path / "index.png")
    assert home.console_errors == []
    assert home.title.startswith("rsbench")
    published = browser.check_page(site / "published" / "index.html", tmp_path / "published.png")
    assert published.console_errors == [] and published.broken_images == []
    assert "Published results" in published.title
