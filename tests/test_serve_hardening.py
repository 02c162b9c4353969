"""`digitnet serve` against slow, idle and broken clients (issue 10), over raw sockets on a
127.0.0.1 port: every connection is closed within a bound, HEAD works on GET routes, and
every refusal the server controls is JSON. The timeouts are shortened to 1 s for the test
(the defaults are the same code with larger numbers)."""

import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed")

TIMEOUT = 1.0  # HEADER_TIMEOUT, BODY_TIMEOUT and KEEP_ALIVE_TIMEOUT in the test server
BOUND = TIMEOUT + 2.0  # a connection must be closed by then


MAX_CONNECTIONS = 4  # MAX_CONNECTIONS in the test server


@pytest.fixture(scope="module")
def port(model_file):
    code = ("import sys, digitnet.serve_guards as s; "
            f"s.HEADER_TIMEOUT = s.BODY_TIMEOUT = s.KEEP_ALIVE_TIMEOUT = {TIMEOUT}; "
            f"s.MAX_CONNECTIONS = {MAX_CONNECTIONS}; "
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


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(BOUND + 5)
    return sock


def read_all(sock):
    """Everything the server sends until it closes the connection; (bytes, seconds)."""
    start, data = time.monotonic(), b""
    while chunk := sock.recv(65536):
        data += chunk
    return data, time.monotonic() - start


def parse(response):
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def test_a_connection_that_never_sends_is_closed(port):
    with connect(port) as sock:
        data, seconds = read_all(sock)
    assert data == b"" and seconds < BOUND


def test_headers_sent_a_byte_at_a_time_are_cut_off_with_json(port):
    """Slowloris: each byte comes before uvicorn's keep-alive timer would fire, so only a
    deadline for the whole header section ends it."""
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        try:
            for byte in b"X-Slow: " + b"a" * 100:
                sock.sendall(bytes([byte]))
                time.sleep(TIMEOUT / 5)
                if time.monotonic() - start > BOUND:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, _ = read_all(sock)
    assert time.monotonic() - start < BOUND + 1
    status, headers, body = parse(data)
    assert status == 408 and headers["content-type"] == "application/json"
    assert "request headers not received" in json.loads(body)["error"]


def test_a_stalled_body_gets_408_json(port):
    with connect(port) as sock:
        sock.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 1000\r\n\r\n{\"pixels\": [")
        data, seconds = read_all(sock)
    status, headers, body = parse(data)
    assert seconds < BOUND and status == 408 and headers["content-type"] == "application/json"
    assert "request body stalled" in json.loads(body)["error"]


def test_an_idle_keep_alive_connection_is_closed(port):
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data, seconds = read_all(sock)
    assert data.startswith(b"HTTP/1.1 200") and b'{"status":"ok"}' in data
    assert seconds < BOUND


def test_a_keep_alive_connection_serves_several_requests(port):
    with connect(port) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(TIMEOUT / 3)
        data, _ = read_all(sock)
    assert data.count(b"HTTP/1.1 200") == 3


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/model", "/static/app.js"])
def test_head_is_answered_on_get_routes(port, path):
    with connect(port) as sock:
        sock.sendall(f"HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data, _ = read_all(sock)
    status, headers, body = parse(data)
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"GET / HTTP/1.1\r\nbad header line\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
], ids=["garbage", "two lengths", "unknown coding", "bad header", "no host"])
def test_framing_errors_are_answered_with_json(port, request_bytes):
    with connect(port) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request_bytes)
        data, seconds = read_all(sock)
    status, headers, body = parse(data)
    assert status == 400 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"].startswith("invalid HTTP request")
    assert seconds < BOUND


def test_a_wrong_method_is_json_too(port):
    with connect(port) as sock:
        sock.sendall(b"DELETE /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = read_all(sock)
    status, _, body = parse(data)
    assert status == 405 and "error" in json.loads(body)


def test_connections_beyond_the_limit_get_503_json_and_the_server_recovers(port):
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(connect(port)) for _ in range(MAX_CONNECTIONS)]
        time.sleep(0.2)  # let the server accept them all
        with connect(port) as extra:
            data, seconds = read_all(extra)
        status, headers, body = parse(data)
        assert status == 503 and headers["content-type"] == "application/json"
        assert "connections open" in json.loads(body)["error"] and seconds < BOUND
        assert len(held) == MAX_CONNECTIONS
    time.sleep(0.2)  # the held ones are closed: there is room again
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = read_all(sock)
    assert parse(data)[0] == 200
