"""The documentation site: `mkdocs build --strict` passes, runs the tutorial, works offline.

--strict makes every warning an error: a broken link or anchor between pages, a page left
out of the nav. The build runs docs/tutorial.py (through docs/hooks.py), whose own checks
(gradients against finite differences, the step against the post's loop, >= 98% on the
test set) fail the build if the math is wrong; its figures are made by this run.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return out


@pytest.mark.slow
def test_the_tutorial_ran_and_drew_its_figures(site):
    page = (site / "tutorial.html").read_text(encoding="utf-8")
    figures = sorted((site / "tutorial").glob("figure-*.png"))
    assert len(figures) >= 3  # the digits, the hidden units, the mistakes
    for figure in figures:
        assert f'src="tutorial/{figure.name}"' in page and figure.stat().st_size > 5000
    assert "every gradient of the tiny network is as worked by hand" in page
    assert re.search(r"test accuracy 9\d\.\d\d%", page)  # its printed output is on the page


@pytest.mark.slow
def test_the_site_is_made_from_one_copy_of_each_fact(site):
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "The math in ten lines" in home  # the README, not a second front page
    assert 'href="tutorial.html"' in home  # its links lead inside the site
    training = (site / "training.html").read_text(encoding="utf-8")
    assert "presets-table" not in training and "squared_error" in training


@pytest.mark.slow
def test_the_site_loads_nothing_from_elsewhere(site):
    for page in site.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<(script|img|link|iframe)\b[^>]*\b(src|href)=\"(https?:)?//",
                             text), page.name
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, page.name
