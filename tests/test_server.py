"""The web API of `digitnet serve`, in process with FastAPI's TestClient: good inputs give
what the library gives, every bad input a 4xx JSON error, big bodies 413, no disk writes."""

import asyncio
import base64
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extra is not installed")
from fastapi.testclient import TestClient

from digitnet import preprocess
from digitnet.cli import main
from digitnet.server import MAX_BODY_BYTES, BodyLimit, create_app


@pytest.fixture(scope="module")
def client(trained_model):
    with TestClient(create_app(trained_model, "model.npz")) as c:
        yield c


def png_bytes(image, fmt="PNG"):
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def drawn_digit(mnist, index, size=200):
    """An MNIST test digit as a user might draw it: dark ink on white, at 200x200."""
    return Image.fromarray(255 - mnist.x_test[index]).resize((size, size), Image.BILINEAR)


def data_url(data, kind="png"):
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


def assert_prediction_of(answer, model, expected_input):
    expected_input = np.asarray(expected_input, dtype=np.uint8)
    assert np.array_equal(np.array(answer["input"]), expected_input)
    probabilities = model.predict_proba(expected_input[None])[0]
    np.testing.assert_allclose(answer["probabilities"], probabilities, rtol=1e-6, atol=1e-9)
    assert answer["digit"] == int(np.argmax(probabilities))
    assert abs(sum(answer["probabilities"]) - 1) < 1e-5


# ---- good inputs ---------------------------------------------------------------------


def test_health_and_model_metadata(client, trained_model):
    assert client.get("/healthz").json() == {"status": "ok"}
    info = client.get("/api/model").json()
    assert info["name"] == "model.npz"
    assert info["architecture"]["hidden"] == trained_model.hidden
    assert info["architecture"]["inputs"] == 784 and info["architecture"]["outputs"] == 10
    assert info["test_accuracy"] == trained_model.metadata["test_accuracy"]
    assert info["config"] == trained_model.config.to_dict()
    assert info["epochs_trained"] == len(trained_model.metadata["history"]) > 0


def test_pixels_are_classified_as_the_model_does(client, trained_model, mnist):
    images = mnist.x_test[:50]
    digits = []
    for x in images:
        answer = client.post("/api/predict", json={"pixels": x.tolist()}).json()
        assert_prediction_of(answer, trained_model, x)  # taken as the network's input as is
        digits.append(answer["digit"])
    assert digits == trained_model.predict(images).tolist()
    assert np.mean(np.array(digits) == mnist.y_test[:50]) >= 0.9


def test_pixels_with_preprocess_go_through_preprocess(client, trained_model, mnist):
    x = np.zeros((28, 28), np.uint8)
    x[2:12, 3:6] = 255  # a short bar in the corner: preprocessing moves and scales it
    answer = client.post("/api/predict", json={"pixels": x.tolist(), "preprocess": True}).json()
    assert_prediction_of(answer, trained_model, preprocess(x))
    assert not np.array_equal(preprocess(x), x)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_uploaded_image_is_preprocessed_like_the_cli(client, trained_model, mnist, fmt):
    image = drawn_digit(mnist, 0)
    data = png_bytes(image, fmt)
    answer = client.post("/api/predict", files={"file": ("digit", data, f"image/{fmt.lower()}")})
    assert answer.status_code == 200, answer.text
    expected = preprocess(Image.open(io.BytesIO(data)))
    assert_prediction_of(answer.json(), trained_model, expected)
    assert answer.json()["digit"] == mnist.y_test[0]


def test_data_url_gives_the_same_answer_as_an_upload(client, mnist):
    data = png_bytes(drawn_digit(mnist, 1).convert("RGBA"))
    by_url = client.post("/api/predict", json={"image": data_url(data)}).json()
    by_upload = client.post("/api/predict", files={"file": ("d.png", data, "image/png")}).json()
    assert by_url == by_upload
    assert by_url["digit"] == mnist.y_test[1]


def test_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for fragment in ('id="pad"', 'id="clear"', 'id="seen"', 'id="bars"', 'id="file"',
                     "static/app.js", "static/style.css"):
        assert fragment in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    script = client.get("/static/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "api/predict" in script.text and "pointerdown" in script.text
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")


def test_openapi_spec_describes_the_api(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/model", "/healthz"} <= set(spec["paths"])
    body = spec["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)


# ---- bad inputs ----------------------------------------------------------------------


def pixels(value=0, at=None):
    rows = [[0] * 28 for _ in range(28)]
    if at is not None:
        rows[at[0]][at[1]] = value
    return rows


def json_body(obj):
    return {"content": json.dumps(obj).encode(), "headers": {"content-type": "application/json"}}


def raw(data, content_type="application/json"):
    return {"content": data, "headers": {"content-type": content_type}}


TRUNCATED_PNG = png_bytes(Image.new("L", (40, 40), 255))[:60]
BLANK_PNG = png_bytes(Image.new("L", (40, 40), 255))
HUGE_PNG = png_bytes(Image.new("1", (5000, 5000), 1))  # 25 million pixels in ~12 kB
GIF = png_bytes(Image.new("L", (40, 40), 255), "GIF")

BAD_REQUESTS = [
    ("not JSON", raw(b"{pixels"), 400, "not valid JSON"),
    ("not UTF-8", raw(b'{"pixels": "\xff"}'), 400, "not valid JSON"),
    ("deeply nested JSON", raw(b"[" * 100_000 + b"]" * 100_000), 400, "not valid JSON"),
    ("huge integer", raw(b'{"pixels": ' + b"9" * 5000 + b"}"), 400, "not valid JSON"),
    ("JSON array", json_body([1, 2]), 422, "JSON object"),
    ("neither field", json_body({}), 422, "exactly one"),
    ("both fields", json_body({"pixels": pixels(), "image": "x"}), 422, "exactly one"),
    ("unknown field", json_body({"pixels": pixels(), "label": 3}), 422, "unknown fields"),
    ("pixels a number", json_body({"pixels": 5}), 422, "28 x 28"),
    ("27 rows", json_body({"pixels": pixels()[:27]}), 422, "got 27 rows"),
    ("short row", json_body({"pixels": [*pixels()[:27], [0] * 27]}), 422, "row 27"),
    ("flat 784", json_body({"pixels": [0] * 784}), 422, "28 x 28"),
    ("3-D", json_body({"pixels": [[[0]] * 28] * 28}), 422, "whole numbers"),
    ("over 255", json_body({"pixels": pixels(256, (3, 4))}), 422, "got 256 at row 3, column 4"),
    ("negative", json_body({"pixels": pixels(-1, (0, 0))}), 422, "0..255"),
    ("fraction", json_body({"pixels": pixels(1.5, (5, 6))}), 422, "whole numbers"),
    ("string pixel", json_body({"pixels": pixels("9", (1, 1))}), 422, "a string"),
    ("boolean pixel", json_body({"pixels": pixels(True, (1, 1))}), 422, "a boolean"),
    ("null pixel", json_body({"pixels": pixels(None, (1, 1))}), 422, "null"),
    ("NaN pixel", raw(json.dumps({"pixels": pixels()}).replace("0", "NaN", 1).encode()),
     422, "whole numbers"),
    ("infinite pixel", raw(json.dumps({"pixels": pixels()}).replace("0", "1e999", 1).encode()),
     422, "whole numbers"),
    ("preprocess not a bool", json_body({"pixels": pixels(), "preprocess": "yes"}), 422,
     "true or false"),
    ("image with preprocess", json_body({"image": data_url(BLANK_PNG), "preprocess": True}),
     422, "'preprocess' goes with 'pixels'"),
    ("image not a string", json_body({"image": [1]}), 422, "data URL string"),
    ("image not a data URL", json_body({"image": "http://example.com/7.png"}), 422,
     "data URL starting"),
    ("GIF data URL", json_body({"image": data_url(GIF, "gif")}), 422, "data URL starting"),
    ("bad base64", json_body({"image": "data:image/png;base64,@@@"}), 400, "invalid base64"),
    ("empty image", json_body({"image": "data:image/png;base64,"}), 400, "empty"),
    ("not an image", json_body({"image": data_url(b"hello world")}), 400, "PNG or JPEG"),
    ("GIF bytes as PNG", json_body({"image": data_url(GIF)}), 400, "PNG or JPEG"),
    ("truncated PNG", json_body({"image": data_url(TRUNCATED_PNG)}), 400, "damaged"),
    ("truncated JPEG", json_body({"image": data_url(b"\xff\xd8\xff\xe0" + b"\0" * 30, "jpeg")}),
     400, "uploaded image"),
    ("blank image", json_body({"image": data_url(BLANK_PNG)}), 422, "blank image"),
    ("decompression bomb", json_body({"image": data_url(HUGE_PNG)}), 400,
     "refused before decoding"),
    ("upload: no file field", {"files": {"image": ("d.png", BLANK_PNG, "image/png")}}, 422,
     "form field 'file'"),
    ("upload: two files", {"files": [("file", ("a.png", BLANK_PNG, "image/png")),
                                     ("file", ("b.png", BLANK_PNG, "image/png"))]}, 400,
     "Too many files"),
    ("upload: text field", {"data": {"file": "seven"}, "files": {"x": ("x", b"1")}}, 422,
     "not a text field"),
    ("upload: no boundary", raw(b"--x\r\n", "multipart/form-data"), 400, "Missing boundary"),
    ("upload: damaged PNG", {"files": {"file": ("d.png", TRUNCATED_PNG, "image/png")}}, 400,
     "damaged"),
    ("upload: huge PNG", {"files": {"file": ("d.png", HUGE_PNG, "image/png")}}, 400,
     "25,000,000 pixels"),
    ("upload: blank", {"files": {"file": ("d.png", BLANK_PNG, "image/png")}}, 422, "blank"),
    ("plain text", raw(b"7", "text/plain"), 415, "Content-Type 'text/plain'"),
    ("no content type", {"content": b"7"}, 415, "application/json or multipart"),
]


@pytest.mark.parametrize("kwargs, status, message", [case[1:] for case in BAD_REQUESTS],
                         ids=[case[0] for case in BAD_REQUESTS])
def test_bad_request_gets_a_4xx_json_error(client, kwargs, status, message):
    response = client.post("/api/predict", **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and message in body["error"], body


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/api/predict", 405), ("POST", "/healthz", 405), ("GET", "/nope", 404),
    ("GET", "/static/../server.py", 404),
])
def test_wrong_routes_get_json_errors(client, method, path, status):
    response = client.request(method, path)
    assert response.status_code == status
    assert set(response.json()) == {"error"}


# ---- the size limit -------------------------------------------------------------------


def test_body_over_the_limit_is_refused_with_413(client, mnist):
    response = client.post("/api/predict", **raw(b" " * (MAX_BODY_BYTES + 1)))
    assert response.status_code == 413
    assert "limit is 2,097,152 bytes, got 2,097,153" in response.json()["error"]
    big_upload = {"file": ("d.png", b"\x89PNG\r\n\x1a\n" + bytes(MAX_BODY_BYTES), "image/png")}
    assert client.post("/api/predict", files=big_upload).status_code == 413


def test_body_at_the_limit_is_read(client, trained_model, mnist):
    body = json.dumps({"pixels": mnist.x_test[0].tolist()}).encode()
    padded = body + b" " * (MAX_BODY_BYTES - len(body))  # JSON allows trailing whitespace
    response = client.post("/api/predict", **raw(padded))
    assert response.status_code == 200
    assert_prediction_of(response.json(), trained_model, mnist.x_test[0])


def run_asgi(app, headers, chunks):
    """Call an ASGI app with a body sent in `chunks`; returns (status, body, chunks read)."""
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    read, sent = [], []

    async def receive():
        read.append(1)
        return messages[len(read) - 1]

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"]), len(read)


async def echo_app(scope, receive, send):
    body = (await receive())["body"]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps({"size": len(body)}).encode()})


def test_chunked_body_is_refused_as_soon_as_it_passes_the_limit():
    chunk = b"x" * 100_000
    status, body, read = run_asgi(BodyLimit(echo_app, 1_000_000), [], [chunk] * 50)
    assert status == 413 and "limit is 1,000,000 bytes" in body["error"]
    assert read == 11  # 10 chunks fit; the 11th passes the limit; the other 39 are never read
    status, body, read = run_asgi(BodyLimit(echo_app, 1_000_000), [], [chunk] * 10)
    assert (status, body, read) == (200, {"size": 1_000_000}, 10)


def test_declared_length_over_the_limit_is_refused_before_reading():
    status, body, read = run_asgi(BodyLimit(echo_app, 1000), [(b"content-length", b"1001")],
                                  [b"x" * 1001])
    assert (status, read) == (413, 0)
    status, body, read = run_asgi(BodyLimit(echo_app, 1000), [(b"content-length", b"-5")],
                                  [b""])
    assert (status, read) == (400, 0) and "Content-Length" in body["error"]


# ---- nothing is written to disk --------------------------------------------------------

_writes: list = []
_recording = [False]
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event, args):
    if _recording[0] and event == "open":
        path, mode, flags = args
        if (isinstance(mode, str) and set(mode) & set("wax+")) or (
                mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS):
            _writes.append((path, mode, flags))


sys.addaudithook(_audit)  # audit hooks cannot be removed; it records only while asked to


def recorded_writes(action):
    _writes.clear()
    _recording[0] = True
    try:
        action()
    finally:
        _recording[0] = False
    return list(_writes)


def test_requests_write_nothing_to_disk(client, mnist, tmp_path):
    # The check itself works: a file written while recording is seen.
    assert recorded_writes(lambda: (tmp_path / "x").write_bytes(b"1"))

    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (700, 700, 3), np.uint8))
    noisy = png_bytes(photo)  # about 1.5 MB: more than Starlette's 1 MB in-memory spool
    assert 1024 * 1024 < len(noisy) < MAX_BODY_BYTES - 1000
    digit = png_bytes(drawn_digit(mnist, 2))

    def requests():
        statuses = [
            client.post("/api/predict", files={"file": ("n.png", noisy, "image/png")}).status_code,
            client.post("/api/predict", files={"file": ("d.png", digit, "image/png")}).status_code,
            client.post("/api/predict", json={"image": data_url(digit)}).status_code,
            client.post("/api/predict", json={"pixels": mnist.x_test[0].tolist()}).status_code,
            client.post("/api/predict", **raw(b"x" * (MAX_BODY_BYTES + 10))).status_code,
        ]
        assert statuses[1:] == [200, 200, 200, 413] and statuses[0] in (200, 422)

    assert recorded_writes(requests) == []


# ---- the command ----------------------------------------------------------------------


def run_cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "digitnet", *args], capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("digitnet: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("content, message", [
    (None, "model file not found"),
    (b"not a zip file", "not a readable .npz"),
    (b"", "not a readable .npz"),
])
def test_serve_refuses_a_bad_model_file(tmp_path, content, message):
    path = tmp_path / "m.npz"
    if content is not None:
        path.write_bytes(content)
    assert_one_line_error(run_cli("serve", str(path), "--port", "0"), str(path), message)


def test_serve_refuses_a_port_in_use(model_file):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", str(model_file), "--port", str(port))
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}", "in use")


def test_serve_refuses_an_unknown_host(model_file):
    result = run_cli("serve", str(model_file), "--host", "no-such-host.invalid")
    assert_one_line_error(result, "cannot listen on no-such-host.invalid:8000")


def test_serve_rejects_a_bad_port_flag(model_file):
    result = run_cli("serve", str(model_file), "--port", "70000")
    assert result.returncode == 2 and "invalid port 70000" in result.stderr


def test_serve_without_the_web_extra_says_what_to_install(model_file, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # makes `import fastapi` fail
    assert main(["serve", str(model_file)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "install digitnet[web]" in err and "fastapi" in err
