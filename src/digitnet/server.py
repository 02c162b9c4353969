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

Hardening: `BodyLimit` refuses bodies over MAX_BODY_BYTES with 413 before reading them in
full (from Content-Length, or while counting a chunked body); images are checked for
PNG/JPEG magic bytes and refused from their header when larger than MAX_IMAGE_PIXELS;
at most IMAGE_WORKERS images are decoded at once; nothing is written to disk (uploads
are parsed in memory). Slow or idle clients are cut off (`guarded_protocol`: a deadline
for the request headers, a body-read timeout, a keep-alive timeout), at most
MAX_CONNECTIONS connections are open at once (more get 503), requests that are not
valid HTTP get a JSON 400, and HEAD is answered on GET routes. The model is loaded once,
before the server starts.

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
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .constants import SIDE, architecture
from .errors import DigitnetError, ImageError, MissingExtraError, ServerError
from .images import load_image, preprocess
from .model import Model, load_model
from .segment import read_number
from .sessions import add_session_routes, session_model

MAX_BODY_BYTES = 2 * 1024 * 1024  # larger request bodies get 413
MAX_IMAGE_PIXELS = 4096 * 4096  # larger images are refused from their header, before decoding
IMAGE_WORKERS = 2  # images decoded at the same time (each may take tens of MB while decoding)
HEADER_TIMEOUT = 10.0  # seconds a connection has to send a whole request line and headers
BODY_TIMEOUT = 10.0  # seconds a client may pause while sending a body before getting 408
KEEP_ALIVE_TIMEOUT = 5.0  # seconds an idle keep-alive connection stays open after a response
# Connections open at once; one more gets 503 at once. Each may be sending a body of up
# to MAX_BODY_BYTES, so this also bounds the memory that uploads in flight can take.
MAX_CONNECTIONS = 64
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
from pydantic import BaseModel, Field  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402
from starlette.formparsers import MultiPartException, MultiPartParser  # noqa: E402

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
# ASGI middleware: the body size limit


class BodyLimit:
    """ASGI middleware: answer 413 to a request whose body exceeds `max_bytes`.

    A declared Content-Length over the limit is refused before any of the body is read.
    Otherwise (no Content-Length, or chunked) the body is read and counted, and refused
    as soon as it passes the limit; the rest is never read. An accepted body (at most
    `max_bytes`, held in memory) is passed on to the app in one piece.
    """

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_error(send, 400, f"invalid Content-Length header {declared!r}")
                return
            if int(declared) > self.max_bytes:
                await self._too_large(send, f", got {int(declared):,}")
                return
        chunks, size = [], 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), BODY_TIMEOUT)
            except asyncio.TimeoutError:
                await _send_error(send, 408, f"request body stalled: nothing received for "
                                             f"{BODY_TIMEOUT:g} seconds", close=True)
                return
            if message["type"] == "http.disconnect":
                return  # the client went away; nothing to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._too_large(send, "")
                return
            if not message.get("more_body", False):
                break
        body, delivered = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any, got: str) -> None:
        await _send_error(send, 413, f"request body too large: the limit is "
                                     f"{self.max_bytes:,} bytes{got}", close=True)


async def _send_error(send: Any, status: int, message: str, close: bool = False) -> None:
    """Answer a raw ASGI request with {"error": message}; `close` ends the connection
    (used when the rest of the body is left unread)."""
    body = json.dumps({"error": message}, allow_nan=False).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------------------
# The FastAPI app


def _page_files() -> dict[str, bytes]:
    """The page's files, read once from the package (digitnet/web/)."""
    folder = resources.files("digitnet") / "web"
    return {name: (folder / name).read_bytes() for name in PAGE_FILES}


def _openapi_body(pixels: bool = True) -> dict[str, Any]:
    """The OpenAPI description of POST /api/predict's request body (parsed by hand, since
    one endpoint takes both JSON and multipart); without the 28x28 array form when
    `pixels` is false (POST /api/read)."""
    row = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255},
           "minItems": SIDE, "maxItems": SIDE}
    image_request = {
        "title": "ImageRequest", "type": "object", "required": ["image"],
        "additionalProperties": False, "properties": {
            "image": {"type": "string", "pattern": "^data:image/(png|jpeg);base64,",
                      "description": "a PNG or JPEG image as a data URL"}}}
    pixels_request = {
        "title": "PixelsRequest", "type": "object", "required": ["pixels"],
        "additionalProperties": False, "properties": {
            "pixels": {"type": "array", "items": row, "minItems": SIDE, "maxItems": SIDE,
                       "description": "28 rows of 28 pixels, 0 = background, 255 = ink"},
            "preprocess": {"type": "boolean", "default": False,
                           "description": "preprocess the array like an image first"}}}
    forms = [pixels_request, image_request] if pixels else [image_request]
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"oneOf": forms} if pixels else image_request},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "a PNG or JPEG image"}}}},
    }}}


class Prediction(BaseModel):
    digit: int | None = Field(ge=0, le=9, description="the most probable digit, or null when "
                                                      "the model declines the picture")
    reason: str | None = Field(description="why digit is null ('not a digit'), else null")
    digit_score: float = Field(ge=0, le=1, description="the largest probability; below the "
                                                       "model's reject_threshold it is not a "
                                                       "digit")
    probabilities: list[float] = Field(min_length=10, max_length=10,
                                       description="probability of each digit 0..9")
    input: list[list[int]] = Field(description="the 28x28 input the network saw, 0..255")


class ReadDigitResult(BaseModel):
    digit: int = Field(ge=0, le=9, description="the most probable digit")
    probability: float = Field(ge=0, le=1, description="its probability")
    box: list[int] = Field(min_length=4, max_length=4,
                           description="x0, y0, x1, y1 in the picture's pixels (x1, y1 "
                                       "exclusive)")
    doubtful: bool = Field(description="its probability is below the model's reject "
                                       "threshold: alone, it would be declined as not a "
                                       "digit")


class ReadResult(BaseModel):
    number: str = Field(description="the digits read, left to right")
    digits: list[ReadDigitResult]


class ModelInfo(BaseModel):
    name: str
    architecture: dict[str, Any]
    test_accuracy: float | None
    test_loss: float | None
    epochs_trained: int | None
    config: dict[str, Any]
    data_source: str | None
    created: str | None
    digitnet_version: str | None
    reject_threshold: float = Field(description="digit scores below this are 'not a digit' "
                                                "(0: the model never declines)")


class Health(BaseModel):
    status: str


class ErrorMessage(BaseModel):
    error: str


class InMemoryParser(MultiPartParser):
    spool_max_size = MAX_BODY_BYTES + 1  # uploads never roll over to a temporary file


ERROR_RESPONSES = {code: {"model": ErrorMessage} for code in (400, 413, 415, 422)}


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
    {"number", "digits": [{"digit", "probability", "box", "doubtful"}]}. A picture with
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
             openapi_extra=_openapi_body(),
             summary="Classify a drawn digit (image or 28x28 array)")(predict)
    app.post("/api/read", response_model=ReadResult, responses=ERROR_RESPONSES,
             openapi_extra=_openapi_body(pixels=False),
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


def guarded_protocol() -> type:
    """uvicorn's h11 HTTP protocol with what it lacks for facing slow or broken clients.

    - A connection must deliver a complete request line and headers within HEADER_TIMEOUT
      seconds of opening, and of each response (uvicorn's keep-alive timer restarts with
      every byte, so a client dribbling a header byte at a time would hold it forever);
      otherwise it gets 408 with a JSON error (or, if it sent nothing, is just closed).
    - A request h11 cannot parse (bad framing, no Host) gets 400 with a JSON error, like
      every other refusal, rather than uvicorn's text/plain.
    - A connection beyond MAX_CONNECTIONS open at once gets 503 with a JSON error and is
      closed before it can send anything, so uploads in flight take bounded memory.
    Bodies are timed by BodyLimit (BODY_TIMEOUT), idle keep-alive by uvicorn
    (KEEP_ALIVE_TIMEOUT). The h11 protocol is used even when httptools is installed, so
    these hold everywhere.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        header_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if len(self.connections) > MAX_CONNECTIONS:  # this one included
                _write_raw_error(self.transport, 503, f"the server has {MAX_CONNECTIONS} "
                                                      f"connections open; try again shortly")
                return
            self._arm_header_deadline()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the headers are in
                self._disarm_header_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            _write_raw_error(self.transport, 400, f"invalid HTTP request: {msg}")

        def _arm_header_deadline(self) -> None:
            self._disarm_header_deadline()
            self.header_deadline = self.loop.call_later(HEADER_TIMEOUT, self._headers_too_slow)

        def _disarm_header_deadline(self) -> None:
            if self.header_deadline is not None:
                self.header_deadline.cancel()
                self.header_deadline = None

        def _headers_too_slow(self) -> None:
            self.header_deadline = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            if self.conn.trailing_data[0]:  # part of a request came: tell the client
                _write_raw_error(self.transport, 408, f"request headers not received within "
                                                      f"{HEADER_TIMEOUT:g} seconds")
            else:
                self.transport.close()  # idle since connecting or since the last response

    return GuardedH11Protocol


def _write_raw_error(transport: Any, status: int, message: str) -> None:
    """Write a whole HTTP/1.1 error response {"error": message} and close the connection
    (for when no request was parsed, so h11 cannot frame one)."""
    reason = HTTPStatus(status).phrase
    body = json.dumps({"error": message}, allow_nan=False).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()
    transport.write(head + body)
    transport.close()


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
          quiet: bool = False) -> None:
    """Load the model, then serve the page and API until Ctrl-C (a normal stop).

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
    app = create_app(model, Path(model_path).name)
    sock = listen(host, port)
    arch = architecture(model.hidden)
    print(f"digitnet: serving {arch} model {Path(model_path).name} at {url_of(sock)} "
          f"(Ctrl-C to stop)", flush=True)
    config = uvicorn.Config(app, log_level="warning" if quiet else "info",
                            access_log=not quiet, lifespan="off", server_header=False,
                            http=guarded_protocol(), timeout_keep_alive=KEEP_ALIVE_TIMEOUT)
    try:
        uvicorn.Server(config).run(sockets=[sock])  # until Ctrl-C, then a graceful shutdown
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: stopping is normal
        print("digitnet: server stopped", file=sys.stderr)
    finally:
        sock.close()
