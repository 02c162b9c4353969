"""Load on `digitnet serve`: concurrent POST /api/predict requests; prints JSON.

    python benchmarks/serve_load.py [MODEL.npz] [--requests 4000] [--clients 32]
                                    [--input pixels|image] [--max-seconds 60]

Starts `digitnet serve MODEL --host 127.0.0.1 --port 0 --quiet` in a child process
(loopback only), waits for /healthz, sends a short unmeasured warm-up, then has CLIENTS
keep-alive connections send REQUESTS predict requests between them, each client waiting
for its answer before sending the next (a closed loop: latency includes queueing at the
server). It stops early at --max-seconds. Reported: requests/s, latency percentiles
(ms, from sending a request to reading the whole answer) and the error count (any status
other than 200, a malformed answer, or a dropped connection).

Bodies are real MNIST test digits: `--input pixels` sends each as the JSON 28x28 array
(the target: p99 under 50 ms at 32 clients, zero errors); `--input image` sends each as
a PNG data URL, which the server decodes and preprocesses. Without MODEL, a 784-1000-10
network is trained for one epoch of the fast preset first (not timed). The clients are a
minimal asyncio HTTP/1.1 client in this process, so they share the machine's CPUs with
the server; on a small machine the figures are an honest lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from digitnet import Model, fit, load_mnist, preset

TARGET_P99_MS = 50.0
WARMUP_REQUESTS = 200


def request_bodies(kind: str, count: int = 200) -> list[bytes]:
    """`count` JSON request bodies, one per MNIST test digit."""
    images = load_mnist().x_test[:count]
    if kind == "pixels":
        return [json.dumps({"pixels": x.tolist()}).encode() for x in images]
    from PIL import Image

    bodies = []
    for x in images:
        png = io.BytesIO()
        Image.fromarray(255 - x).resize((280, 280)).save(png, "PNG")  # dark ink on white
        url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
        bodies.append(json.dumps({"image": url}).encode())
    return bodies


def http_request(port: int, body: bytes) -> bytes:
    head = (f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length -> (status, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(line.split(":", 1)[1]) for line in lines[1:]
                  if line.lower().startswith("content-length:"))
    return status, await reader.readexactly(length)


async def client(port: int, requests: list[bytes], todo: list[int], deadline: float,
                 latencies: list[float], errors: list[str]) -> None:
    """Send requests on one keep-alive connection while `todo` has any left."""
    reader = writer = None
    while todo and time.perf_counter() < deadline:
        index = todo.pop()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            start = time.perf_counter()
            writer.write(requests[index % len(requests)])
            status, body = await read_response(reader)
            latencies.append(time.perf_counter() - start)
            if status != 200 or "digit" not in json.loads(body):
                errors.append(f"status {status}: {body[:100]!r}")
        except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as e:
            errors.append(f"{type(e).__name__}: {e}")
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def run_load(port: int, bodies: list[bytes], n: int, clients: int,
                   max_seconds: float) -> dict:
    requests = [http_request(port, b) for b in bodies]
    latencies: list[float] = []
    errors: list[str] = []
    todo = list(range(n))
    start = time.perf_counter()
    await asyncio.gather(*(client(port, requests, todo, start + max_seconds, latencies, errors)
                           for _ in range(clients)))
    seconds = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies), "errors": len(errors), "unsent": len(todo),
        "seconds": round(seconds, 3),
        "requests_per_second": round(len(latencies) / seconds, 1),
        "latency_ms": {q: round(float(np.percentile(ms, p)), 2) if len(ms) else None
                       for q, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
        "first_errors": errors[:3],
    }


def start_server(model: Path) -> tuple[subprocess.Popen, int]:
    """`digitnet serve` on a free loopback port; returns (process, port) once healthy."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH", "")]))
    server = subprocess.Popen(
        [sys.executable, "-m", "digitnet", "serve", str(model), "--host", "127.0.0.1",
         "--port", "0", "--quiet"], stdout=subprocess.PIPE, text=True, env=env)
    line = server.stdout.readline()  # "digitnet: serving ... at http://127.0.0.1:PORT/ ..."
    if " at http://127.0.0.1:" not in line:
        server.kill()
        sys.exit(f"serve_load: the server did not start: {line.strip()!r}")
    port = int(line.split(" at http://127.0.0.1:")[1].split("/")[0])
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return server, port
        except OSError:
            time.sleep(0.1)
    server.kill()
    sys.exit("serve_load: the server did not answer /healthz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("model", nargs="?", type=Path, help="model file (default: train one)")
    parser.add_argument("--requests", type=int, default=4000, help="measured requests")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--input", choices=("pixels", "image"), default="pixels",
                        help="JSON 28x28 array, or a PNG data URL")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="stop sending after this long")
    args = parser.parse_args()
    if not 1 <= args.requests <= 100_000 or not 1 <= args.clients <= 256:
        parser.error("--requests must be in 1..100000 and --clients in 1..256")

    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model
        if model_path is None:
            config = preset("fast", epochs=1)
            data = load_mnist()
            result = fit(config, data.x_train, data.y_train)
            model_path = Path(tmp) / "model.npz"
            Model(result.params, config, {"history": result.history}).save(model_path)
        bodies = request_bodies(args.input)
        server, port = start_server(model_path)
        try:
            asyncio.run(run_load(port, bodies, WARMUP_REQUESTS, args.clients, 30))
            figures = asyncio.run(run_load(port, bodies, args.requests, args.clients,
                                           args.max_seconds))
        finally:
            server.terminate()
            server.wait(timeout=10)
    p99 = figures["latency_ms"]["p99"]
    report = {"benchmark": "serve_load", "input": args.input, "clients": args.clients,
              "model": str(args.model or "784-1000-10, fast preset, 1 epoch"), **figures}
    if args.input == "pixels":  # the target is for the 28x28 JSON input
        report["target"] = {"p99_ms": TARGET_P99_MS, "zero_errors": True,
                            "met": figures["errors"] == 0 and figures["unsent"] == 0
                            and p99 is not None and p99 < TARGET_P99_MS}
    report.update(cpus=os.cpu_count(), load_average=[round(x, 2) for x in os.getloadavg()],
                  python=platform.python_version(), numpy=np.__version__)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
