"""`digitnet serve` against slow uploads and clients that send before they read (issue 34),
over real sockets on 127.0.0.1: a flood of slow bodies cannot keep /healthz or a normal
predict waiting, every body has a total deadline, and a refused upload is drained before
the connection closes, so Python's urllib and requests read their 413 instead of a
broken pipe. The deadlines are shortened for the test (the defaults are the same code
with larger numbers)."""

import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed")

DEADLINE = 3.0  # BODY_DEADLINE and QUICK_DEADLINE in the test server
FLOOD = 64  # slow-body connections, as in the issue
SLOW_BODY = 100_000  # bytes each declares


@pytest.fixture(scope="module")
def port(model_file):
    code = ("import sys, digitnet.serve_guards as g; "
            f"g.BODY_DEADLINE = g.QUICK_DEADLINE = {DEADLINE}; "
            "from digitnet.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", str(model_file), "--port", "0",
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    match = re.search(r" at http://127\.0\.0\.1:(\d+)/ ", proc.stdout.readline())
    if match is None:
        proc.kill()
        pytest.fail(f"the server did not start: {proc.stderr.read()!r}")
    yield int(match.group(1))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err


def request(port, raw, timeout=5.0):
    """Send raw bytes on a fresh connection; (status, seconds until the answer)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]), time.monotonic() - start


def predict_request(pixels):
    body = json.dumps({"pixels": pixels}).encode()
    return (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def slow_upload(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n{" % SLOW_BODY)
    return sock


def test_a_flood_of_slow_bodies_leaves_healthz_and_predicts_answering(port, mnist):
    """64 connections each declare 100 kB and send a byte a second: the old server held a
    slot for each as long as they went on, and answered /healthz with 503 throughout."""
    pixels = mnist.x_test[0].tolist()
    with contextlib.ExitStack() as stack:
        flood = [stack.enter_context(slow_upload(port)) for _ in range(FLOOD)]
        start, answers = time.monotonic(), []
        while time.monotonic() - start < DEADLINE - 0.5:
            for sock in flood:  # the attackers keep going: a byte each, now and then
                with contextlib.suppress(OSError):
                    sock.send(b" ")
            answers.append(request(port, HEALTHZ))
            answers.append(request(port, predict_request(pixels)))
            time.sleep(0.2)
        assert len(answers) >= 6
        assert all(status == 200 for status, _ in answers), answers
        assert max(seconds for _, seconds in answers) < 1.0
        # each slow body was answered: 503 at once (no slot) or 408 at its deadline
        statuses, ends = [], []
        for sock in flood:
            sock.settimeout(DEADLINE + 3)
            data = b""
            with contextlib.suppress(OSError):
                while chunk := sock.recv(65536):
                    data += chunk
            statuses.append(int(data.split(b" ", 2)[1]) if data else None)
            ends.append(time.monotonic() - start)
    assert set(statuses) <= {408, 503} and statuses.count(408) >= 1, statuses
    assert max(ends) < DEADLINE + 3  # the total deadline, not one per pause


def test_a_body_that_never_ends_gets_408_at_its_deadline(port):
    """One byte every half second never trips the 10 s pause limit; the deadline ends it."""
    start = time.monotonic()
    with slow_upload(port) as sock:
        data, ended = b"", False
        while not ended and time.monotonic() - start < DEADLINE + 5:
            with contextlib.suppress(OSError):
                sock.send(b" ")
            sock.settimeout(0.5)
            with contextlib.suppress(socket.timeout):
                chunk = sock.recv(65536)
                data, ended = data + chunk, not chunk
        answered = time.monotonic() - start
    assert data.startswith(b"HTTP/1.1 408")
    assert b"not received within 3 seconds" in data
    assert DEADLINE - 0.5 < answered < DEADLINE + 3  # answered, then closed after lingering


def test_urllib_reads_its_413_for_a_3_mb_upload(port):
    """urllib sends the whole body before reading: a server that answers and closes at
    once made it fail with a broken pipe or a connection reset, often."""
    body = b"{" + b" " * (3 * 1024 * 1024)
    for _ in range(10):
        post = urllib.request.Request(f"http://127.0.0.1:{port}/api/predict", data=body,
                                      headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(post, timeout=10)
        assert refused.value.code == 413
        assert "request body too large" in json.loads(refused.value.read())["error"]


def test_requests_reads_its_413_for_a_3_mb_upload(port):
    requests = pytest.importorskip("requests")
    body = b"{" + b" " * (3 * 1024 * 1024)
    for _ in range(10):
        response = requests.post(f"http://127.0.0.1:{port}/api/predict", data=body,
                                 headers={"Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 413


def test_a_chunked_upload_past_the_limit_is_drained_then_closed(port):
    """A client that streams a body of unknown length and only reads at the end."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        for _ in range(48):  # 3 MB, sent in full before reading anything
            sock.sendall(chunk)
        data = b""
        while part := sock.recv(65536):
            data += part
    assert data.startswith(b"HTTP/1.1 413") and time.monotonic() - start < 5
