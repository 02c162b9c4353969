"""The page's per-session adaptation (sessions.py): the API through FastAPI's TestClient,
and the whole page in headless Chromium: correct a guess, download the model, forget,
and the "teach me" lesson."""

import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed")
from fastapi.testclient import TestClient

from digitnet import load_model, network
from digitnet import sessions as sessions_module
from digitnet.config import preset
from digitnet.model import Model
from digitnet.server import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from test_serve_live import (
    draw_with_mouse,
    loop,
    open_page,
    shown_guess,
    start_server,
    stop_server,
)
from writers import Writer


@pytest.fixture(scope="module")
def app(trained_model):
    return create_app(trained_model, "model.npz")


def pixels(mnist, i):
    return mnist.x_test[i].tolist()


def guess(client, image):
    response = client.post("/api/predict", json={"pixels": image})
    assert response.status_code == 200, response.text
    return response.json()["digit"]


def test_a_correction_changes_the_next_guess_of_that_session_only(app, mnist, tmp_path,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written to disk: checked at the end
    mine, other = TestClient(app), TestClient(app)
    image = pixels(mnist, 0)
    first = guess(mine, image)
    wrong = (first + 1) % 10
    answer = mine.post("/api/teach", json={"digit": wrong, "pixels": image})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["examples"] == 1 and body["per_digit"][wrong] == 1 and body["adapted"]
    assert body["prediction"]["digit"] == wrong  # the answer already uses the new model
    assert "memory" in body["note"]
    assert guess(mine, image) == wrong
    assert guess(other, image) == first  # another browser is not affected
    assert other.get("/api/session").json()["examples"] == 0
    assert mine.get("/api/session").json()["adapted"]

    download = mine.get("/api/session/model")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    saved = tmp_path / "downloaded.npz"
    saved.write_bytes(download.content)
    model = load_model(saved)
    assert model.metadata["adapted"]["examples"] == 1
    assert model.metadata["adapted"]["base"]["name"] == "model.npz"
    assert int(model.predict(np.array([image]))[0]) == wrong
    assert other.get("/api/session/model").status_code == 404

    assert mine.delete("/api/session").json() == {"forgotten": True}
    assert guess(mine, image) == first
    assert mine.get("/api/session").json()["examples"] == 0
    assert sorted(os.listdir(tmp_path)) == ["downloaded.npz"]  # only what we saved


def test_a_batch_of_examples_and_the_per_session_limit(app, mnist, monkeypatch):
    monkeypatch.setattr(sessions_module, "MAX_EXAMPLES", 4)
    client = TestClient(app)
    examples = [{"digit": int(mnist.y_test[i]), "pixels": pixels(mnist, i)} for i in range(6)]
    body = client.post("/api/teach", json={"examples": examples}).json()
    assert body["examples"] == 4  # the oldest two dropped
    assert sum(body["per_digit"]) == 4
    client.delete("/api/session")


def test_sessions_are_bounded_in_count_and_memory(trained_model, mnist, monkeypatch):
    app = create_app(trained_model, "m")
    store = app.state.sessions
    clients = [TestClient(app) for _ in range(3)]
    monkeypatch.setattr(sessions_module, "MAX_SESSIONS", 2)
    for client in clients:
        assert client.post("/api/teach", json={"digit": 1, "pixels": pixels(mnist, 2)}
                           ).status_code == 200
    assert len(store.sessions) == 2
    assert clients[0].get("/api/session").json()["examples"] == 0  # least recently used
    assert clients[2].get("/api/session").json()["examples"] == 1
    one = next(iter(store.sessions.values())).nbytes(trained_model)
    assert one < 2 * trained_model.params["W2"].nbytes  # W1 is shared, never copied
    monkeypatch.setattr(sessions_module, "MAX_BYTES", one + 1)
    clients[1].post("/api/teach", json={"digit": 1, "pixels": pixels(mnist, 2)})
    assert len(store.sessions) == 1


@pytest.mark.parametrize("body, status, message", [
    ({"digit": 12, "pixels": [[0] * 28] * 28}, 422, "digit must be a whole number 0..9"),
    ({"digit": "7", "pixels": [[0] * 28] * 28}, 422, "digit must be"),
    ({"digit": 7}, 422, "exactly one of"),
    ({"digit": 7, "pixels": [[0] * 28] * 28, "name": "x"}, 422, "unknown fields"),
    ({"examples": []}, 422, "1 to 40 examples"),
    ({"digit": 7, "image": "data:image/png;base64,!!"}, 400, "invalid base64"),
    ([1, 2], 422, "JSON object"),
])
def test_bad_teaching_requests_get_one_clear_error(app, body, status, message):
    response = TestClient(app).post("/api/teach", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_a_blank_picture_is_refused(app):
    from PIL import Image

    blank = io.BytesIO()
    Image.new("L", (60, 60), 255).save(blank, "PNG")
    import base64

    url = "data:image/png;base64," + base64.b64encode(blank.getvalue()).decode()
    response = TestClient(app).post("/api/teach", json={"digit": 3, "image": url})
    assert response.status_code == 422 and "blank" in response.json()["error"]


def test_a_squared_error_model_cannot_be_taught(mnist):
    seed = Model(network.init_params(np.random.RandomState(1), 4, init="uniform",
                                     biases=False, dtype=np.float64), preset("seed", hidden=4))
    client = TestClient(create_app(seed, "seed.npz"))
    info = client.get("/api/session").json()
    assert info["can_adapt"] is False and "squared_error" in info["refusal"]
    response = client.post("/api/teach", json={"digit": 1, "pixels": pixels(mnist, 0)})
    assert response.status_code == 409 and "cross_entropy" in response.json()["error"]


# ---- in the browser ---------------------------------------------------------------------

# A slanted writer with a thin pen, European 1s and 7s, curled 9s and open 0s and 4s: the
# session's model reads about 8 in 10 of these.
LESSON_WRITER = Writer(slant=0.35, pen=0.05, aspect=0.85, one="flag_foot", two="loop",
                       three="flat_top", four="open", seven="bar", nine="curled", zero="open",
                       wobble=0.02)


def writer_points(digit, rng):
    """LESSON_WRITER's strokes of `digit` as fractions of the pad, a little different each
    time: [[(x, y), ...], ...]."""
    height = rng.uniform(0.55, 0.65)
    aspect = 0.25 if digit == 1 and LESSON_WRITER.one == "plain" else LESSON_WRITER.aspect
    width = height * aspect
    x0, y0 = 0.5 - width / 2 + rng.uniform(-0.03, 0.03), 0.5 - height / 2
    return [[(x0 + width * x + LESSON_WRITER.slant * height * (1 - y), y0 + height * y)
             for x, y in stroke[::2] + stroke[-1:]] for stroke in LESSON_WRITER.strokes(digit)]


def draw_strokes(page, strokes):
    for stroke in strokes:
        draw_with_mouse(page, stroke)


@pytest.fixture(scope="module")
def live(model_file):
    proc, url = start_server(model_file)
    yield url
    stop_server(proc)


def test_correct_a_guess_then_teach_me_on_the_page(browser, live, tmp_path):
    page, errors = open_page(browser, live, viewport={"width": 1200, "height": 900})
    assert "memory on this server" in page.text_content("#privacy")
    assert page.get_attribute("#download", "aria-disabled") == "true"
    assert page.is_hidden("#teach")

    draw_with_mouse(page, loop())
    assert shown_guess(page) == "0"
    assert page.is_visible("#teach")
    page.click("#teach-digits button[data-digit='6']")  # "that's wrong, it's a 6"
    page.locator("#teach-digits button.taught").wait_for()
    assert page.text_content("#guess") == "6"
    assert "1 correction" in page.text_content("#mine-count")
    assert page.get_attribute("#download", "aria-disabled") == "false"
    page.screenshot(path=str(tmp_path / "corrected.png"), full_page=True)

    page.click("#clear")
    draw_with_mouse(page, loop())
    assert shown_guess(page) == "6"  # the next guess uses the correction

    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "mine.npz"
    download.value.save_as(saved)
    assert load_model(saved).metadata["adapted"]["examples_per_digit"]["6"] == 1

    page.click("#forget")
    page.locator("#mine-count", has_text="No corrections yet").wait_for()
    page.click("#clear")
    draw_with_mouse(page, loop())
    assert shown_guess(page) == "0"

    page.click("#teach-me")
    page.locator("#pen").fill("6")  # a thin pen
    rng = np.random.default_rng(3)
    for k in range(30):
        digit = k % 10
        page.locator("#lesson-prompt", has_text=f"Draw a {digit}  ({k + 1} of 30)").wait_for()
        draw_strokes(page, writer_points(digit, rng))
        page.click("#lesson-next")
    result = page.locator("#lesson-result", has_text="read right before")
    result.wait_for(timeout=120_000)
    before = int(page.get_attribute("#lesson-result", "data-before"))
    after = int(page.get_attribute("#lesson-result", "data-after"))
    assert after >= before and after >= 9, page.text_content("#lesson-result")
    assert "20 corrections" in page.text_content("#mine-count")
    page.screenshot(path=str(tmp_path / "lesson.png"), full_page=True)
    if os.environ.get("DIGITNET_SCREENSHOTS"):  # to look at them: a folder to copy into
        for name in ("corrected.png", "lesson.png"):
            (Path(os.environ["DIGITNET_SCREENSHOTS"]) / name).write_bytes(
                (tmp_path / name).read_bytes())
    assert errors == []
    page.context.close()
