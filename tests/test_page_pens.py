"""The drawing page with the bundled model, at the pen slider's thinnest and thickest:
a clean digit drawn with the mouse reads right either way (issue 33: at the thinnest pen
a 2 used to be "not a digit"). Debian's headless Chromium, through Playwright."""

import math

import pytest
from test_serve_live import draw_with_mouse, open_page, shown_guess, start_server, stop_server

pytest.importorskip("fastapi", reason="the web extra is not installed")


@pytest.fixture(scope="module")
def builtin_server():
    proc, url = start_server("builtin")
    yield url
    stop_server(proc)


def two():
    """A 2: an arc over the top, a diagonal down to the left, a flat base (pad fractions)."""
    arc = [(0.5 + 0.22 * math.cos(a), 0.33 + 0.17 * math.sin(a))
           for a in [math.pi * (1.05 + 0.055 * k) for k in range(21)]]
    return [*arc, (0.3, 0.8), (0.74, 0.8)]


def seven():
    """A 7: a bar, then a long stroke down to the left."""
    return [(0.28, 0.2), (0.72, 0.2), (0.45, 0.82)]


@pytest.mark.parametrize("width", ["min", "max"])
def test_a_clean_digit_reads_at_the_thinnest_and_thickest_pen(browser, builtin_server, width,
                                                             tmp_path):
    page, errors = open_page(browser, builtin_server, viewport={"width": 1200, "height": 800})
    pen = page.locator("#pen")
    pen.fill(pen.get_attribute(width))
    for strokes, digit in ((two(), "2"), (seven(), "7")):
        page.click("#clear")
        draw_with_mouse(page, strokes)
        assert shown_guess(page) == digit, page.text_content("#score-note")
        assert "Digit score" in page.text_content("#score-note")
    page.screenshot(path=str(tmp_path / f"pen-{width}.png"), animations="disabled")
    assert errors == []
    page.context.close()
