"""The web app behind `digitnet serve`: a drawing page and a small JSON API over one model.

    GET  /             the page: draw a digit, see the guess, the probabilities and the
                       28x28 image the network sees; or switch to "number" and write a
                       whole number on a wide pad (plain HTML/CSS/JS from digitnet/web/)
    POST /api/predict  a PNG/JPEG image (multipart field "file", or a data URL in JSON
                       {"image": "data:image/png;base64,..."}) or a JSON 28x28 array
                       {"pixels": [[0..255] * 28] * 28}; returns the digit (null, with a
                       "reason", when the model declines it as not a digit), its
                       digit_score, the ten probabilities and the preprocessed 28x28 input
    POST /api/read     a picture of a whole number, as an image like /api/predict's;
                       returns {"number": "2025", "digits": [{digit, probability, box}]}
                       (segment.read_number, the same as `digitnet read`)
    GET  /api/model    the model's metadata: architecture, test accuracy, training config
    GET  /healthz      {"status": "ok"}
    POST /api/teach, GET and DELETE /api/session, GET /api/session/model: a browser
                       session's corrections and the model adapted to them (sessions.py)

Images go through `images.preprocess`, the same function the CLI uses. A 28x28 array is
taken as the network's input as it is (an MNIST-style image), unless the request says
"preprocess": true. Every error is a JSON object {"error": "..."} with a 4xx status.

Hardening: the protocol guards (serve_guards.py) limit bodies (size, pauses, a total
deadline, slots so that slow uploads cannot crowd out quick requests), connections and
header time, answer framing errors with JSON and close refused uploads lingeringly, so
every client reads its 4xx. Here: images are checked for PNG/JPEG magic bytes and
refused from their header when larger than MAX_IMAGE_PIXELS; at most IMAGE_WORKERS
images are decoded at once; nothing is written to disk (uploads are parsed in memory);
HEAD is answered on GET routes. The model is loaded once, before the server starts.

Not here: authentication, TLS, rate limiting or more than one model; put a reverse proxy
in front for anything beyond a local demo. This module needs FastAPI, uvicorn and
python-multipart (the `web` extra): importing it without them raises MissingExtraError,
which the CLI turns into one line saying what to install.
"""

import asyncio
import base64
import binascii
import io
import json
import math
import re
import socket
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from . import serve_guards
from .constants import SIDE, architecture
from .errors import DigitnetError, ImageError, MissingExtraError, ServerError
from .images import load_image, preprocess
from .model import Model, load_model
from .segment import read_number
from .serve_guards import MAX_BODY_BYTES, BodyLimit, guarded_protocol
from .sessions import add_session_routes, session_model
from .terminal import shown

MAX_IMAGE_PIXELS = 4096 * 4096  # larger images are refused from their header, before decoding
IMAGE_WORKERS = 2  # images decoded at the same time (each may take tens of MB while decoding)
PAGE_FILES = {  # file in digitnet/web/ -> media type; served from memory
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_DATA_URL = re.compile(r"data:image/(png|jpeg|jpg);base64,", re.IGNORECASE)


class RequestError(DigitnetError, ValueError):
    """A request the API refuses; `status` is the HTTP status code to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def require_web() -> None:
    """Raise MissingExtraError naming the extra if FastAPI, uvicorn or python-multipart
    is not installed."""
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise MissingExtraError(
            f"the web app needs {e.name or 'fastapi'}, which is not installed; install "
            f"digitnet[web] (pip install 'digitnet[web]')") from None


require_web()  # importing this module without the web extra: one clear line, not ImportError
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402
from starlette.formparsers import MultiPartException, MultiPartParser  # noqa: E402

from .serve_schema import (  # noqa: E402
    ERROR_RESPONSES,
    Health,
    ModelInfo,
    Prediction,
    ReadResult,
    openapi_body,
)

# ---------------------------------------------------------------------------------------
# Turning request bodies into the network's (28, 28) uint8 input


def pixels_from_json(value: Any) -> np.ndarray:
    """A JSON 28x28 array of whole numbers 0..255 -> (28, 28) uint8.

    Raises RequestError(422) naming what is wrong (shape, type or range) and where.
    """
    if not isinstance(value, list) or len(value) != SIDE:
        got = _count(len(value), "row") if isinstance(value, list) else _json_type(value)
        raise RequestError(422, f"pixels must be a {SIDE} x {SIDE} array ({SIDE} rows of "
                                f"{SIDE} numbers), got {got}")
    for r, row in enumerate(value):
        if not isinstance(row, list) or len(row) != SIDE:
            got = _count(len(row), "value") if isinstance(row, list) else _json_type(row)
            raise RequestError(422, f"pixels must be a {SIDE} x {SIDE} array: row {r} "
                                    f"should hold {SIDE} numbers, got {got}")
        for c, v in enumerate(row):
            if type(v) is not int and not (type(v) is float and v.is_integer()):
                what = repr(v) if type(v) in (int, float) else _json_type(v)
                raise RequestError(422, f"pixels must be whole numbers 0..255, got {what} "
                                        f"at row {r}, column {c}")
            if not 0 <= v <= 255:
                raise RequestError(422, f"pixels must be in 0..255, got {v!r} at row {r}, "
                                        f"column {c}")
    return np.array(value, dtype=np.uint8)


def _json_type(value: Any) -> str:
    """'an array', 'a string', ...: what kind of JSON value this is, for error messages."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             type(None): "null", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def image_from_data_url(url: Any) -> bytes:
    """"data:image/png;base64,..." (or image/jpeg) -> the image file's bytes.

    Raises RequestError(422) if it is not such a data URL, 400 if the base64 is damaged.
    """
    if not isinstance(url, str):
        raise RequestError(422, f"image must be a data URL string, got {_json_type(url)}")
    match = _DATA_URL.match(url)
    if match is None:
        raise RequestError(422, f"image must be a data URL starting 'data:image/png;base64,' "
                                f"or 'data:image/jpeg;base64,', got {url[:40]!r}")
    try:
        return base64.b64decode(url[match.end():], validate=True)
    except (binascii.Error, ValueError) as e:
        raise RequestError(400, f"image data URL holds invalid base64 ({e})") from None


def decode_image(data: bytes) -> Any:
    """PNG or JPEG file bytes -> a decoded PIL image, read in memory with the project's
    safe loader and a limit of MAX_IMAGE_PIXELS checked from the header.

    Raises RequestError(400) for an empty, non-PNG/JPEG, damaged or too large image.
    """
    if not data:
        raise RequestError(400, "image is empty (0 bytes)")
    if not data.startswith((_PNG_MAGIC, _JPEG_MAGIC)):
        raise RequestError(400, f"image must be a PNG or JPEG file; its first bytes are "
                                f"{data[:8]!r}")


    try:
        return load_image(io.BytesIO(data), max_pixels=MAX_IMAGE_PIXELS, name="uploaded image")
    except ImageError as e:
        raise RequestError(400, str(e)) from None


def preprocess_image(image: Any) -> np.ndarray:
    """A decoded picture or an array -> (28, 28) uint8 via `images.preprocess`;
    a blank picture raises RequestError(422)."""


    try:
        return preprocess(image)
    except ImageError as e:
        raise RequestError(422, str(e)) from None


def image_to_input(data: bytes) -> np.ndarray:
    """PNG/JPEG bytes -> the network's (28, 28) uint8 input (decode, then preprocess)."""
    return preprocess_image(decode_image(data))


def prediction(model: Model, pixels: np.ndarray) -> dict[str, Any]:
    """Run the model on one (28, 28) uint8 input -> the JSON-ready API answer: the digit,
    or None with the reason "not a digit" when its digit score is below the threshold."""
    probabilities = model.predict_proba(pixels[None])[0]  # (10,)
    score = float(probabilities.max())
    declined = bool(model.declines(score))
    return {"digit": None if declined else int(np.argmax(probabilities)),
            "reason": "not a digit" if declined else None,
            "digit_score": score,
            "probabilities": [float(p) for p in probabilities],
            "input": pixels.tolist()}


def model_info(model: Model, name: str) -> dict[str, Any]:
    """What GET /api/model returns: the parts of the model's metadata a user cares about."""
    meta = model.metadata
    history = meta.get("history")
    return {
        "name": name,
        "architecture": meta.get("architecture")
        or {"inputs": SIDE * SIDE, "hidden": model.hidden, "outputs": 10},
        "test_accuracy": _finite_or_none(meta.get("test_accuracy")),
        "test_loss": _finite_or_none(meta.get("test_loss")),
        "epochs_trained": len(history) if isinstance(history, list) else None,
        "config": model.config.to_dict(),
        "data_source": meta.get("data_source"),
        "created": meta.get("created"),
        "digitnet_version": meta.get("digitnet_version"),
        "reject_threshold": model.reject_threshold,
    }


def _finite_or_none(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


# ---------------------------------------------------------------------------------------
# The FastAPI app


def _page_files() -> dict[str, bytes]:
    """The page's files, read once from the package (digitnet/web/)."""
    folder = resources.files("digitnet") / "web"
    return {name: (folder / name).read_bytes() for name in PAGE_FILES}


class InMemoryParser(MultiPartParser):
    spool_max_size = MAX_BODY_BYTES + 1  # uploads never roll over to a temporary file




async def _refused(request: Request, e: RequestError) -> JSONResponse:
    return JSONResponse({"error": str(e)}, status_code=e.status)


async def _http_error(request: Request, e: HTTPException) -> JSONResponse:
    return JSONResponse({"error": str(e.detail)}, status_code=e.status_code,
                        headers=getattr(e, "headers", None))


async def _bug(request: Request, e: Exception) -> JSONResponse:  # logged by uvicorn
    return JSONResponse({"error": "internal server error"}, status_code=500)


async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
    return JSONResponse({"error": f"invalid request: {e.errors()}"}, status_code=422)


async def pixels_from_body(request: Request) -> np.ndarray:
    """The (28, 28) uint8 network input a request to /api/predict carries: an uploaded
    image, a data URL or a 28x28 array. Raises RequestError (4xx) naming the fault."""
    data, payload = await _image_or_pixels(request)
    if data is not None:
        return await _in_worker(request, image_to_input, data)
    pixels = pixels_from_json(payload["pixels"])
    flag = payload.get("preprocess", False)
    if not isinstance(flag, bool):
        raise RequestError(422, f"preprocess must be true or false, got "
                                f"{json.dumps(flag)[:40]}")
    return preprocess_image(pixels) if flag else pixels


async def _image_or_pixels(request: Request) -> tuple[bytes | None, dict[str, Any]]:
    """A request's image file bytes (uploaded, or from a data URL) and None, or None and
    the JSON payload holding "pixels". Raises RequestError (4xx) naming the fault."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        return await _from_upload(request), {}
    if media != "application/json":
        raise RequestError(415, f"send application/json or multipart/form-data, "
                                f"got Content-Type {media or 'none'!r}")
    try:
        payload = json.loads(await request.body())
    except (ValueError, RecursionError) as e:  # includes UnicodeDecodeError
        raise RequestError(400, f"body is not valid JSON ({str(e)[:200]})") from None
    if not isinstance(payload, dict):
        raise RequestError(422, f"body must be a JSON object with 'pixels' or 'image', "
                                f"got {_json_type(payload)}")
    keys = set(payload)
    unknown = sorted(keys - {"pixels", "image", "preprocess"})
    if unknown:
        raise RequestError(422, f"unknown fields {unknown}; send 'pixels' or 'image'")
    if ("pixels" in keys) == ("image" in keys):
        raise RequestError(422, "send exactly one of 'pixels' (a 28x28 array) or 'image' "
                                "(a data URL)")
    if "image" in keys:
        if "preprocess" in keys:
            raise RequestError(422, "'preprocess' goes with 'pixels'; images are always "
                                    "preprocessed")
        return image_from_data_url(payload["image"]), {}
    return None, payload


async def _from_upload(request: Request) -> bytes:
    """The bytes of the one file uploaded in the multipart form field "file"."""
    try:
        form = await InMemoryParser(request.headers, request.stream(), max_files=1,
                                    max_fields=10).parse()
    except MultiPartException as e:
        raise RequestError(400, f"cannot read the multipart body ({e.message})") from None
    try:
        files = form.getlist("file")
        if len(files) != 1:
            raise RequestError(422, f"send one image in the form field 'file', got "
                                    f"{len(files)} such fields")
        if isinstance(files[0], str):
            raise RequestError(422, "the form field 'file' must be an uploaded file "
                                    "(with a filename), not a text field")
        return await files[0].read()
    finally:
        await form.close()


async def _in_worker(request: Request, work: Any, *args: Any) -> Any:
    """work(*args) in a worker thread; at most IMAGE_WORKERS images are handled at once."""
    async with request.app.state.image_slots:
        return await run_in_threadpool(work, *args)


def reading(model: Model, data: bytes) -> dict[str, Any]:
    """PNG/JPEG bytes of a written number -> the JSON-ready /api/read answer:
    {"number", "digits": [{"digit", "probability", "box", "doubtful"}]}, with "number"
    null and "reason": "not a number" when the digits make none. A picture with
    no ink or no digits raises RequestError(422)."""
    picture = decode_image(data)
    try:
        return read_number(model, picture).to_dict()
    except ImageError as e:
        raise RequestError(422, str(e)) from None


async def predict(request: Request) -> Response:
    pixels = await pixels_from_body(request)
    return JSONResponse(prediction(session_model(request), pixels))


async def read(request: Request) -> Response:
    data, _ = await _image_or_pixels(request)
    if data is None:
        raise RequestError(422, "/api/read reads a picture: send 'image' (a data URL) or an "
                                "uploaded file, not 'pixels'")
    return JSONResponse(await _in_worker(request, reading, session_model(request), data))


async def get_model(request: Request) -> Response:
    return JSONResponse(request.app.state.info)


async def healthz() -> Response:
    return JSONResponse({"status": "ok"})


def _page_route(app: FastAPI, path: str, file: str, pages: dict[str, bytes]) -> None:
    """GET `path` answers with the page file `file`, from memory."""
    async def serve_file() -> Response:
        return Response(pages[file], media_type=PAGE_FILES[file], headers=PAGE_HEADERS)

    _get(app, path, serve_file, include_in_schema=False)


def _get(app: FastAPI, path: str, endpoint: Any, **options: Any) -> None:
    """Route GET `path` to `endpoint`, and HEAD too (the same headers, no body; uvicorn
    drops the body of a HEAD response). HEAD stays out of the OpenAPI spec."""
    app.get(path, **options)(endpoint)
    app.head(path, include_in_schema=False)(endpoint)


def create_app(model: Model, name: str = "model") -> FastAPI:
    """Build the FastAPI app serving `model` (already loaded); `name` is shown on the page."""
    from .version import __version__

    app = FastAPI(title="digitnet", version=__version__,
                  description="Recognise a handwritten digit with a NumPy neural network.")
    app.state.model, app.state.info = model, model_info(model, name)
    app.state.image_slots = asyncio.Semaphore(IMAGE_WORKERS)
    app.add_exception_handler(RequestError, _refused)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _bug)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.post("/api/predict", response_model=Prediction, responses=ERROR_RESPONSES,
             openapi_extra=openapi_body(),
             summary="Classify a drawn digit (image or 28x28 array)")(predict)
    app.post("/api/read", response_model=ReadResult, responses=ERROR_RESPONSES,
             openapi_extra=openapi_body(pixels=False),
             summary="Read a handwritten number (several digits in one picture)")(read)
    _get(app, "/api/model", get_model, response_model=ModelInfo,
         summary="The served model's metadata")
    _get(app, "/healthz", healthz, response_model=Health, summary="Liveness check")
    add_session_routes(app, model, name)  # "that's wrong, it's a 4": sessions.py
    pages = _page_files()
    _page_route(app, "/", "index.html", pages)
    _page_route(app, "/static/app.js", "app.js", pages)
    _page_route(app, "/static/style.css", "style.css", pages)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)  # before any route reads a body
    return app


# ---------------------------------------------------------------------------------------
# Running it


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0 picks a free one).

    Raises ServerError naming the address if it cannot be used (in use, unknown host).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise ServerError(f"cannot listen on {host}:{port}: unknown host ({e.strerror})") \
            from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise ServerError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    """http://host:port/ for a listening socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(model_path: str | Path, host: str = "127.0.0.1", port: int = 8000,
          quiet: bool = False, threshold: float | None = None) -> None:
    """Load the model, then serve the page and API until Ctrl-C (a normal stop).
    threshold: the digit score under which pictures are "not a digit" (None: the model's).

    Raises MissingExtraError without the web extra, ModelFileError for a bad model file
    and ServerError if the address cannot be used, all before anything is served.
    """
    require_web()
    import uvicorn
    from threadpoolctl import threadpool_limits

    # One image is a (1, 784) @ (784, H) product: BLAS threads only add hand-offs, and on a
    # busy machine they cost milliseconds per request instead of a tenth of one.
    threadpool_limits(limits=1, user_api="blas")
    model = load_model(model_path)  # once, before listening; a bad file stops us here
    if threshold is not None:
        model = model.with_threshold(threshold)
    app = create_app(model, Path(model_path).name)
    sock = listen(host, port)
    arch = architecture(model.hidden)
    print(f"digitnet: serving {arch} model {shown(Path(model_path).name)} at {url_of(sock)} "
          f"(Ctrl-C to stop)", flush=True)
    config = uvicorn.Config(app, log_level="warning" if quiet else "info",
                            access_log=not quiet, lifespan="off", server_header=False,
                            http=guarded_protocol(),
                            timeout_keep_alive=serve_guards.KEEP_ALIVE_TIMEOUT)
    try:
        uvicorn.Server(config).run(sockets=[sock])  # until Ctrl-C, then a graceful shutdown
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: stopping is normal
        print("digitnet: server stopped", file=sys.stderr)
    finally:
        sock.close()
