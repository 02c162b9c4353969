"""The README's screenshot: the drawing page of `digitnet serve`, with a 4 drawn by mouse.

    python docs/make_screenshot.py docs/drawing-page.png

Starts `digitnet serve` (the bundled model) on a free loopback port, draws two strokes on
the pad in Debian's headless Chromium through Playwright, saves the page, and stops the
server. Needs digitnet[web] and playwright (never `playwright install`: /usr/bin/chromium).
"""

import itertools
import socket
import subprocess
import sys
import time
import urllib.request

from PIL import Image
from playwright.sync_api import sync_playwright

STROKES = [[(0.58, 0.15), (0.25, 0.6), (0.75, 0.6)], [(0.6, 0.35), (0.62, 0.88)]]  # a "4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shoot(url: str, out: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 640})
        page.goto(url)
        box = page.locator("#pad").bounding_box()
        for stroke in STROKES:  # fractions of the pad, drawn in small mouse moves
            points = [(box["x"] + x * box["width"], box["y"] + y * box["height"])
                      for x, y in stroke]
            page.mouse.move(*points[0])
            page.mouse.down()
            for (x0, y0), (x1, y1) in itertools.pairwise(points):
                for k in range(1, 11):
                    page.mouse.move(x0 + (x1 - x0) * k / 10, y0 + (y1 - y0) * k / 10)
            page.mouse.up()
        time.sleep(1.5)  # the guess is debounced
        page.screenshot(path=out, full_page=True)
        browser.close()


def main(out: str) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "digitnet", "serve", "--port", str(port),
                               "-q"])
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        shoot(f"http://127.0.0.1:{port}/", out)
    finally:
        server.terminate()
        server.wait()
    picture = Image.open(out).convert("RGB")  # 64 colours: a quarter of the file, same look
    picture.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/drawing-page.png")
