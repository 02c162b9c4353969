"""writing.py: which marks in a picture are the digit (or the line of a number)."""

import numpy as np
from PIL import Image, ImageDraw

from digitnet.writing import clear_rules, digit_mask, line_mask, run_lengths


def canvas(h=600, w=400):
    return Image.new("L", (w, h), 0)  # ink bright on black, as ink images are


def ink_of(image):
    return np.asarray(image, np.float32)


def box(mask):
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return rows[0], cols[0], rows[-1] + 1, cols[-1] + 1


def draw_seven(draw, x=120, y=200, size=200, pen=12):
    draw.line([(x, y), (x + size * 0.8, y), (x + size * 0.3, y + size)], fill=255, width=pen)


def test_run_lengths():
    mask = np.array([[1, 1, 0, 1], [0, 1, 1, 1], [1, 0, 0, 0]], bool)
    np.testing.assert_array_equal(run_lengths(mask), [[2, 2, 0, 1], [0, 3, 3, 3], [1, 0, 0, 0]])


def test_a_screenshot_keeps_the_digit_not_the_status_bar_or_the_palette():
    image = canvas(800, 400)
    draw = ImageDraw.Draw(image)
    draw.text((20, 8), "9:41", fill=255)  # the status bar
    draw.rectangle((330, 10, 370, 24), outline=255, width=2)  # a battery
    for k in range(6):  # the palette
        draw.ellipse((30 + 60 * k, 720, 70 + 60 * k, 760), fill=255)
    draw_seven(draw, y=480)  # drawn near the palette
    keep = digit_mask(ink_of(image)).keep
    y0, x0, y1, x1 = box(keep & (ink_of(image) > 0))
    assert y0 >= 470 and y1 <= 700 and x0 >= 100 and x1 <= 300


def test_ruled_lines_and_a_margin_are_cleared_but_not_the_digit():
    image = canvas(500, 600)
    draw = ImageDraw.Draw(image)
    for y in range(40, 500, 50):
        draw.line([(0, y), (600, y)], fill=120, width=2)
    draw.line([(70, 0), (70, 500)], fill=120, width=2)
    draw_seven(draw, x=250, y=130, size=180, pen=8)  # crosses several ruled lines
    ink = ink_of(image)
    keep = digit_mask(ink).keep
    y0, x0, y1, x1 = box(keep & (ink > 0))
    assert y0 >= 120 and y1 <= 320 and x0 >= 240 and x1 <= 410  # the 7 alone
    seven = canvas(500, 600)
    draw_seven(ImageDraw.Draw(seven), x=250, y=130, size=180, pen=8)
    strokes = ink_of(seven) > 0
    assert keep[strokes].mean() > 0.97  # all of it, but where a line crossed it


def test_a_tightly_cropped_seven_keeps_its_bar_and_a_tall_one_is_a_one():
    seven = np.zeros((120, 100), bool)
    seven[:8, :] = True  # the bar runs from edge to edge
    for r in range(8, 120):  # the stem leaves it at its right end
        c = 99 - (r - 8) * 60 // 112
        seven[r, c - 4:c + 4] = True
    np.testing.assert_array_equal(clear_rules(seven), seven)
    one = np.zeros((200, 30), bool)
    one[:, 12:18] = True  # a 1 from top to bottom of a tight crop
    keep = digit_mask(one.astype(np.float32) * 255).keep
    assert keep[one].all()


def test_a_frame_around_the_digit_is_not_the_digit():
    image = canvas(500, 500)
    draw = ImageDraw.Draw(image)
    draw.rectangle((60, 60, 440, 440), outline=255, width=6)
    draw_seven(draw, x=170, y=150, size=200)
    keep = digit_mask(ink_of(image)).keep
    y0, x0, y1, x1 = box(keep & (ink_of(image) > 0))
    assert y0 >= 140 and x0 >= 160 and y1 <= 360 and x1 <= 340


def test_a_line_of_writing_is_followed_and_a_second_line_left_out():
    image = canvas(500, 900)
    draw = ImageDraw.Draw(image)
    for k in range(4):  # a rising line of four 7s
        draw_seven(draw, x=60 + 200 * k, y=300 - 40 * k, size=120, pen=8)
    for k in range(3):  # and below it, a second line
        draw_seven(draw, x=80 + 150 * k, y=432, size=60, pen=6)
    ink = ink_of(image)
    keep = line_mask(ink).keep & (ink > 0)
    _, x0, y1, x1 = box(keep)
    assert y1 <= 430 and x0 < 100 and x1 > 700
