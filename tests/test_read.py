"""`digitnet read` and POST /api/read on pictures of whole numbers: text and JSON answers,
one error line per bad file, --show-input that never overwrites an input or follows a
symlink, and the API's answers and errors (in process, FastAPI's TestClient)."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image
from test_cli import run

from digitnet.segment import read_number


def number_picture(mnist, digits, height=100, gap=40):
    """MNIST test digits written dark on white, side by side with gaps: (H, W) uint8."""
    width = len(digits) * (height + gap) + gap
    picture = np.full((height + 80, width), 255, np.uint8)
    for k, digit in enumerate(digits):
        image = mnist.x_test[np.flatnonzero(mnist.y_test == digit)[k]]
        big = np.asarray(Image.fromarray(image).resize((height, height), Image.BICUBIC))
        x = gap + k * (height + gap)
        picture[40:40 + height, x:x + height] = np.minimum(
            picture[40:40 + height, x:x + height], 255 - big)
    return picture


@pytest.fixture(scope="module")
def numbers(mnist, tmp_path_factory):
    """Two pictures of numbers, a blank one and a broken one, in one directory."""
    directory = tmp_path_factory.mktemp("numbers")
    Image.fromarray(number_picture(mnist, [2, 0, 5])).save(directory / "a.png")
    Image.fromarray(number_picture(mnist, [7, 1, 3, 9])).convert("RGB").save(directory / "b.jpg")
    Image.new("L", (300, 100), 255).save(directory / "blank.png")
    (directory / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return directory


def test_read_prints_the_number_and_each_digits_confidence(model_file, trained_model, numbers):
    result = run("read", str(model_file), str(numbers / "a.png"), str(numbers / "b.jpg"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    expected = [read_number(trained_model, numbers / name) for name in ("a.png", "b.jpg")]
    assert [e.number for e in expected] == ["205", "7139"]
    for line, name, reading in zip(lines, ("a.png", "b.jpg"), expected, strict=True):
        sure = ", ".join(f"{100 * d.probability:.0f}%" for d in reading.digits)
        assert line == f"{numbers / name}: {reading.number} ({sure})"


@pytest.fixture(scope="module")
def doubting(trained_model, numbers, tmp_path_factory):
    """The session's model saved with a reject threshold halfway between the lowest and
    the highest probability of b.jpg's digits, so some are doubtful and some are not."""
    from digitnet import Model

    sure = sorted(d.probability for d in read_number(trained_model, numbers / "b.jpg").digits)
    assert sure[0] < sure[1]
    threshold = (sure[0] + sure[1]) / 2  # one digit of the four doubtful
    assert sure[0] >= 0.6 * threshold, "the doubtful digit must not be far below"
    path = tmp_path_factory.mktemp("doubting") / "model.npz"
    Model(trained_model.params, trained_model.config,
          {**trained_model.metadata, "reject_threshold": threshold}).save(path)
    return path, threshold


def test_digits_below_the_reject_threshold_are_marked_doubtful(doubting, numbers):
    path, threshold = doubting
    from digitnet import load_model

    reading = read_number(load_model(path), numbers / "b.jpg")
    assert reading.number == "7139"  # one doubtful digit: still a number, the best guesses
    marked = [d.doubtful for d in reading.digits]
    assert marked == [d.probability < threshold for d in reading.digits]
    assert any(marked) and not all(marked)
    result = run("read", str(path), str(numbers / "b.jpg"), "--json")
    (record,) = json.loads(result.stdout)
    assert [d["doubtful"] for d in record["digits"]] == marked
    text = run("read", str(path), str(numbers / "b.jpg")).stdout
    sure = ", ".join(f"{100 * d.probability:.0f}%" + "?" * d.doubtful for d in reading.digits)
    assert text.strip() == f"{numbers / 'b.jpg'}: 7139 ({sure})"


def test_read_json_and_bad_files(model_file, numbers):
    result = run("read", str(model_file), str(numbers), "--json")
    assert result.returncode == 1  # two files failed
    records = {r["file"].rsplit("/", 1)[-1]: r for r in json.loads(result.stdout)}
    assert records["a.png"]["number"] == "205"
    assert records["b.jpg"]["number"] == "7139"
    digits = records["a.png"]["digits"]
    assert [d["digit"] for d in digits] == [2, 0, 5]
    for d in digits:
        assert 0 < d["probability"] <= 1
        assert d["doubtful"] is False  # the model has no reject threshold
        x0, y0, x1, y1 = d["box"]
        assert 0 <= x0 < x1 <= 460 and 0 <= y0 < y1 <= 180
    assert [d["box"][0] for d in digits] == sorted(d["box"][0] for d in digits)
    assert "blank" in records["blank.png"]["error"]
    assert "broken.png" in records["broken.png"]["error"]
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("digitnet: error: ") for e in errors)
    assert "Traceback" not in result.stderr


def test_show_input_writes_boxes_and_digits_but_never_over_an_input(model_file, numbers,
                                                                    tmp_path):
    picture = tmp_path / "n.png"
    picture.write_bytes((numbers / "a.png").read_bytes())
    decoy = tmp_path / "n-boxes.png"  # an input named like the output
    decoy.write_bytes((numbers / "a.png").read_bytes())
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me")
    (tmp_path / "n-digit1.png").symlink_to(target)
    before = decoy.read_bytes()
    result = run("read", str(model_file), str(picture), str(decoy), "--show-input",
                 str(tmp_path))
    assert result.returncode == 1  # one output could not be written ...
    assert result.stderr.strip().splitlines() == [
        f"digitnet: error: {tmp_path / 'n-digit1.png'}: is a symbolic link; digitnet does "
        "not write through links"]
    assert result.stdout.count(": 205 (") == 2  # ... but both pictures were read
    assert decoy.read_bytes() == before  # the input was not overwritten
    assert target.read_text() == "keep me"  # the symlink was not followed
    assert (tmp_path / "n-digit1.png").is_symlink()
    written = sorted(p.name for p in tmp_path.iterdir())
    assert "n-boxes-2.png" in written  # n-boxes.png is an input
    assert "n-digit2.png" in written and "n-digit3.png" in written
    boxed = Image.open(tmp_path / "n-boxes-2.png")
    assert boxed.size == Image.open(picture).size and boxed.mode == "RGB"
    assert Image.open(tmp_path / "n-digit2.png").size == (28, 28)


# ---- POST /api/read -------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(trained_model):
    pytest.importorskip("fastapi", reason="the web extra is not installed")
    from fastapi.testclient import TestClient

    from digitnet.server import create_app

    with TestClient(create_app(trained_model, "model.npz")) as c:
        yield c


def png_bytes(picture):
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return buffer.getvalue()


def test_api_read_upload_and_data_url(client, mnist, trained_model):
    picture = number_picture(mnist, [4, 0, 2])
    data = png_bytes(picture)
    expected = read_number(trained_model, Image.open(io.BytesIO(data))).to_dict()
    upload = client.post("/api/read", files={"file": ("n.png", data, "image/png")})
    assert upload.status_code == 200, upload.text
    assert upload.json() == expected
    assert expected["number"] == "402"
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    assert client.post("/api/read", json={"image": url}).json() == expected


def test_api_read_errors_are_json(client):
    blank = png_bytes(np.full((60, 200), 255, np.uint8))
    answer = client.post("/api/read", files={"file": ("b.png", blank, "image/png")})
    assert answer.status_code == 422 and "blank" in answer.json()["error"]
    answer = client.post("/api/read", json={"pixels": [[0] * 28] * 28})
    assert answer.status_code == 422 and "pixels" in answer.json()["error"]
    answer = client.post("/api/read", content=b"hello", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415
    answer = client.post("/api/read", files={"file": ("x.png", b"GIF89a...", "image/png")})
    assert answer.status_code == 400 and "PNG or JPEG" in answer.json()["error"]


def test_digits_the_model_doubts_are_not_a_number(doubting, trained_model, numbers,
                                                  tmp_path):
    """With a threshold above every digit's probability, b.jpg's digits are all doubtful:
    the reading says "not a number" in Python, text and JSON, and keeps its guesses."""
    from digitnet import Model

    path = tmp_path / "doubts-all.npz"
    Model(trained_model.params, trained_model.config,
          {**trained_model.metadata, "reject_threshold": 1.0}).save(path)
    from digitnet import load_model

    reading = read_number(load_model(path), numbers / "b.jpg")
    assert reading.number is None and not reading.is_number
    assert "".join(str(d.digit) for d in reading.digits) == "7139"
    (record,) = json.loads(run("read", str(path), str(numbers / "b.jpg"), "--json").stdout)
    assert record["number"] is None and record["reason"] == "not a number"
    assert [d["digit"] for d in record["digits"]] == [7, 1, 3, 9]
    text = run("read", str(path), str(numbers / "b.jpg")).stdout.strip()
    assert text.startswith(f"{numbers / 'b.jpg'}: not a number (")


def test_is_number_rule():
    from digitnet.segment import is_number

    assert is_number(np.array([0.99, 0.98, 0.97]), 0.5)
    assert is_number(np.array([0.99, 0.4, 0.97]), 0.5)  # one smudge
    assert not is_number(np.array([0.99, 0.4, 0.45, 0.98]), 0.5)  # two in four doubtful
    assert is_number(np.array([0.99, 0.4, 0.45, 0.98, 0.99, 0.97, 0.99, 0.99, 0.97]), 0.5)
    assert not is_number(np.array([0.4, 0.98]), 0.5)  # half doubtful
    assert not is_number(np.array([0.99, 0.25, 0.97, 0.98, 0.99]), 0.5)  # one far below
    assert is_number(np.array([0.1, 0.1]), 0.0)  # a model that never declines
    assert not is_number(np.array([]), 0.5)


def test_a_face_is_not_a_number(trained_model):
    """A ring with marks inside it (eyes and a smile) is no number, however sure the network
    is of the ring; a 0 beside a 1 is one."""
    from PIL import ImageDraw

    face = Image.new("L", (400, 300), 255)
    draw = ImageDraw.Draw(face)
    draw.ellipse((100, 50, 300, 250), outline=0, width=10)
    draw.ellipse((150, 110, 175, 135), fill=0)
    draw.ellipse((225, 110, 250, 135), fill=0)
    draw.arc((150, 130, 250, 210), 20, 160, fill=0, width=10)
    from digitnet import Model

    doubting = Model(trained_model.params, trained_model.config,
                     {**trained_model.metadata, "reject_threshold": 0.01})
    assert read_number(doubting, face).number is None
    ten = Image.new("L", (400, 300), 255)
    draw = ImageDraw.Draw(ten)
    draw.line([(110, 60), (110, 240)], fill=0, width=12)
    draw.ellipse((180, 60, 300, 240), outline=0, width=12)
    assert read_number(doubting, ten).number == "10"
