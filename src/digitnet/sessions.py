"""The web page's "that's wrong, it's a 4": a small adapted model per browser session.

    POST   /api/teach           {"digit": 4, "image": "data:image/png;base64,..."} (or
                                "pixels": a 28x28 array), or {"examples": [{"digit",
                                "image"}, ...]}: learn it; answers with the session's
                                examples and the new guess on that picture
    GET    /api/session         what this session has taught: examples per digit
    GET    /api/session/model   the session's adapted model as a .npz download
    DELETE /api/session         forget this session's corrections

A session is a random token in an HttpOnly cookie (COOKIE), set by the first /api/teach.
Its examples (at most MAX_EXAMPLES, the oldest dropped first) are kept in memory only,
as 28x28 inputs, and after every correction the base model is adapted again to all of
them (`adapt.adapt_model`, "output" method): the next /api/predict and /api/read of that
session use the adapted model at once. Only the output layer differs from the base, so a
session costs the W2 and b2 it changed (160 kB for `builtin`) and its examples; W1 is
shared. At most MAX_SESSIONS sessions and MAX_BYTES of their arrays are kept; beyond that
the least recently used session is forgotten. Nothing is written to disk: the download
is built in memory, and a server restart forgets every session.

The replayed MNIST digits and non-digits and the held-out validation digits (`Replay`,
about 130 MB for `builtin`) are prepared once per server, in a background thread started
by the page's first GET /api/session, so the first correction does not wait for them.
"""


import io
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .adapt import AdaptSettings, Replay, adapt_model, check_adaptable, prepare_replay
from .constants import CLASSES
from .errors import DigitnetError
from .files import json_text
from .model import Model
from .modelfile import check_params, model_metadata

COOKIE = "digitnet_session"
MAX_SESSIONS = 100  # sessions kept at once; the least recently used one goes first
MAX_EXAMPLES = 200  # corrections kept per session; the oldest go first
MAX_BYTES = 64 * 1024 * 1024  # arrays all sessions may hold together (examples, W2, b2)
MAX_BATCH = 40  # examples in one /api/teach request ("teach me" sends up to 30)
SETTINGS = AdaptSettings()  # the "output" method: only W2 and b2 change per session
NOTE = ("Corrections stay in this server's memory, for this browser session only; nothing "
        "is written to disk unless you download your model.")


@dataclass
class Session:
    """One browser's corrections and the model adapted to them."""

    images: list[np.ndarray] = field(default_factory=list)  # (28, 28) uint8 inputs
    digits: list[int] = field(default_factory=list)
    model: Model | None = None  # None until the first correction

    def nbytes(self, base: Model) -> int:
        """Memory held by this session alone: examples, and arrays not shared with base."""
        own = 0
        if self.model is not None:
            own = sum(a.nbytes for name, a in self.model.params.items()
                      if a is not base.params.get(name))
        return own + sum(image.nbytes for image in self.images)

    def summary(self) -> dict[str, Any]:
        return {"examples": len(self.digits),
                "per_digit": [self.digits.count(d) for d in range(CLASSES)],
                "adapted": self.model is not None}


class Sessions:
    """The per-session adapted models of one server, bounded in count and memory."""

    def __init__(self, base: Model, name: str, settings: AdaptSettings = SETTINGS):
        self.base, self.name, self.settings = base, name, settings
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.lock = threading.Lock()  # guards `sessions`
        self.replay: Replay | None = None
        self.replay_ready = threading.Event()
        self.replay_started = False
        self.replay_error: str | None = None
        try:
            check_adaptable(base)
            self.refusal: str | None = None
        except DigitnetError as e:
            self.refusal = str(e)

    # ---- the shared replay set ----
    def warm_up(self) -> None:
        """Start preparing the replay set in a background thread (once)."""
        with self.lock:
            if self.replay_started or self.refusal:
                return
            self.replay_started = True
        threading.Thread(target=self._prepare, name="digitnet-replay", daemon=True).start()

    def _prepare(self) -> None:
        from .data import load_mnist

        try:
            self.replay = prepare_replay(self.base, load_mnist(), self.settings)
        except DigitnetError as e:
            self.replay_error = str(e)
        finally:
            self.replay_ready.set()

    def _wait_for_replay(self) -> Replay:
        self.warm_up()
        self.replay_ready.wait()
        if self.replay is None:
            raise TeachError(409, f"cannot adapt on this server: {self.replay_error}")
        return self.replay

    # ---- sessions ----
    def model_for(self, token: str | None) -> Model:
        """The model that answers this session: its adapted one, else the base."""
        with self.lock:
            session = self.sessions.get(token) if token else None
            if session is not None:
                self.sessions.move_to_end(token)
                if session.model is not None:
                    return session.model
        return self.base

    def summary(self, token: str | None) -> dict[str, Any]:
        with self.lock:
            session = self.sessions.get(token) if token else None
            found = session.summary() if session else Session().summary()
        return {**found, "can_adapt": self.refusal is None, "refusal": self.refusal,
                "note": NOTE}

    def teach(self, token: str, examples: list[tuple[np.ndarray, int]]) -> Model:
        """Add examples ((28, 28) uint8 input, digit) to the session and adapt the base to
        all of them; returns the session's new model. Runs in a worker thread."""
        if self.refusal:
            raise TeachError(409, f"this server's model cannot be adapted: {self.refusal}")
        replay = self._wait_for_replay()
        with self.lock:
            session = self.sessions.setdefault(token, Session())
            self.sessions.move_to_end(token)
            for image, digit in examples:
                session.images.append(image)
                session.digits.append(digit)
            del session.images[:-MAX_EXAMPLES], session.digits[:-MAX_EXAMPLES]
            images, digits = np.stack(session.images), np.array(session.digits)
        model = adapt_model(self.base, images, digits, self.settings, replay=replay,
                            base_name=self.name)
        with self.lock:
            if self.sessions.get(token) is session:  # not reset meanwhile
                session.model = model
            self._evict()
        return model

    def _evict(self) -> None:
        """Forget least recently used sessions until within MAX_SESSIONS and MAX_BYTES."""
        while len(self.sessions) > MAX_SESSIONS or (
                len(self.sessions) > 1
                and sum(s.nbytes(self.base) for s in self.sessions.values()) > MAX_BYTES):
            self.sessions.popitem(last=False)

    def forget(self, token: str | None) -> bool:
        with self.lock:
            return self.sessions.pop(token, None) is not None if token else False

    def model_file(self, token: str | None) -> bytes | None:
        """The session's adapted model as the bytes of a .npz model file, or None."""
        model = self.model_for(token)
        if model is self.base:
            return None
        return model_bytes(model, self.base.metadata.get("architecture", {}).get("stored_as"))


class TeachError(DigitnetError, ValueError):
    """A teaching request refused; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def model_bytes(model: Model, stored_as: str | None = None) -> bytes:
    """A model file in memory: what `Model.save` would write, as bytes (nothing on disk)."""
    meta = model_metadata(model.params, model.config, model.metadata)
    check_params(model.params, meta["architecture"])
    params = model.params
    if stored_as is not None:
        meta["architecture"]["stored_as"] = stored_as
        params = {name: a.astype(stored_as) for name, a in params.items()}
    buffer = io.BytesIO()
    blob = np.frombuffer(json_text(meta).encode(), dtype=np.uint8)
    np.savez(buffer, metadata=blob, **params)
    return buffer.getvalue()


def new_token() -> str:
    return secrets.token_urlsafe(18)


def _openapi_teach() -> dict[str, Any]:
    """The OpenAPI description of POST /api/teach's request body (parsed by hand)."""
    row = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255},
           "minItems": 28, "maxItems": 28}
    digit = {"type": "integer", "minimum": 0, "maximum": 9, "description": "the right digit"}
    image = {"type": "string", "pattern": "^data:image/(png|jpeg);base64,",
             "description": "the picture as a PNG or JPEG data URL"}
    pixels = {"type": "array", "items": row, "minItems": 28, "maxItems": 28,
              "description": "a 28x28 network input, 0 = background, 255 = ink"}
    one = {"title": "Example", "type": "object", "additionalProperties": False,
           "required": ["digit"], "properties": {"digit": digit, "image": image,
                                                 "pixels": pixels},
           "oneOf": [{"required": ["image"]}, {"required": ["pixels"]}]}
    many = {"title": "Examples", "type": "object", "additionalProperties": False,
            "required": ["examples"], "properties": {"examples": {
                "type": "array", "items": one, "minItems": 1, "maxItems": MAX_BATCH}}}
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"oneOf": [one, many]}}}}}


def add_session_routes(app: Any, model: Model, name: str) -> None:
    """Register the routes above on the server's FastAPI app (server.create_app)."""
    from fastapi import Request
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, Field

    from .serve_schema import ErrorMessage, Prediction
    from .server import (
        RequestError,
        _get,
        _in_worker,
        image_from_data_url,
        image_to_input,
        pixels_from_json,
    )

    class SessionInfo(BaseModel):
        examples: int = Field(ge=0, description="corrections this session keeps")
        per_digit: list[int] = Field(min_length=10, max_length=10,
                                     description="how many of each digit 0..9")
        adapted: bool = Field(description="this session's guesses use its adapted model")
        can_adapt: bool = Field(description="the served model can be adapted at all")
        refusal: str | None = Field(description="why it cannot, else null")
        note: str = Field(description="where corrections are kept")

    class TeachResult(SessionInfo):
        prediction: Prediction = Field(description="the new guess on the (last) picture")

    class Forgotten(BaseModel):
        forgotten: bool = Field(description="this session had corrections, now dropped")

    def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
        return {code: {"model": ErrorMessage} for code in codes}

    sessions = Sessions(model, name)
    app.state.sessions = sessions

    def example(item: Any) -> tuple[bytes | None, np.ndarray | None, int]:
        """(image bytes or None, pixels or None, digit) of one {"digit", "image"|"pixels"}."""
        if not isinstance(item, dict):
            raise RequestError(422, "each example must be an object with 'digit' and 'image'")
        unknown = sorted(set(item) - {"digit", "image", "pixels"})
        if unknown:
            raise RequestError(422, f"unknown fields {unknown}; send 'digit' and 'image'")
        digit = item.get("digit")
        if type(digit) is not int or not 0 <= digit < CLASSES:
            raise RequestError(422, f"digit must be a whole number 0..9, got {digit!r}"[:120])
        if ("image" in item) == ("pixels" in item):
            raise RequestError(422, "send exactly one of 'image' (a data URL) or 'pixels'")
        if "image" in item:
            return image_from_data_url(item["image"]), None, digit
        return None, pixels_from_json(item["pixels"]), digit

    def inputs_of(items: list[tuple[bytes | None, np.ndarray | None, int]],
                  ) -> list[tuple[np.ndarray, int]]:
        return [(image_to_input(data) if data is not None else pixels, digit)
                for data, pixels, digit in items]

    async def teach(request: Request) -> Response:
        try:
            payload = await request.json()
        except ValueError:
            raise RequestError(400, "body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise RequestError(422, "body must be a JSON object")
        if "examples" in payload and len(payload) > 1:
            raise RequestError(422, "send either 'examples' alone, or one example's 'digit' "
                                    "and 'image'")
        listed = payload.get("examples") if "examples" in payload else [payload]
        if not isinstance(listed, list) or not 1 <= len(listed) <= MAX_BATCH:
            raise RequestError(422, f"examples must be a list of 1 to {MAX_BATCH} examples")
        items = [example(item) for item in listed]
        token = request.cookies.get(COOKIE) or new_token()
        pairs = await _in_worker(request, inputs_of, items)
        try:
            adapted = await _in_worker(request, sessions.teach, token, pairs)
        except TeachError as e:
            raise RequestError(e.status, str(e)) from None
        from .server import prediction

        answer = {**sessions.summary(token), "prediction": prediction(adapted, pairs[-1][0])}
        response = JSONResponse(answer)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    async def session_info(request: Request) -> Response:
        sessions.warm_up()
        return JSONResponse(sessions.summary(request.cookies.get(COOKIE)))

    async def download(request: Request) -> Response:
        data = await _in_worker(request, sessions.model_file, request.cookies.get(COOKIE))
        if data is None:
            raise RequestError(404, "this session has taught nothing yet: nothing to download")
        return Response(data, media_type="application/octet-stream", headers={
            "Content-Disposition": 'attachment; filename="digitnet-mine.npz"'})

    async def reset(request: Request) -> Response:
        forgotten = sessions.forget(request.cookies.get(COOKIE))
        response = JSONResponse({"forgotten": forgotten})
        response.delete_cookie(COOKIE)
        return response

    app.post("/api/teach", response_model=TeachResult, responses=errors(400, 409, 413, 422),
             openapi_extra=_openapi_teach(),
             summary="Teach this session's model that a picture is a digit")(teach)
    _get(app, "/api/session", session_info, response_model=SessionInfo,
         summary="What this session has taught")
    _get(app, "/api/session/model", download, summary="This session's adapted model (.npz)",
         responses={200: {"content": {"application/octet-stream": {}}}, **errors(404)},
         response_class=Response)
    app.delete("/api/session", response_model=Forgotten,
               summary="Forget this session's corrections")(reset)


def session_model(request: Any) -> Model:
    """The model that answers this request: its session's adapted model, else the base."""
    return request.app.state.sessions.model_for(request.cookies.get(COOKIE))
