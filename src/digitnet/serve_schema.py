"""The shapes of `digitnet serve`'s API: the answers' pydantic models and the request
bodies' OpenAPI description (the bodies are parsed by hand in server.py, since one
endpoint takes both JSON and multipart). Imported by server.py, after the web extra is
checked."""

from typing import Any

from pydantic import BaseModel, Field

from .constants import SIDE


def openapi_body(pixels: bool = True) -> dict[str, Any]:
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
    number: str | None = Field(description="the digits read, left to right; null when they "
                                           "do not make a number (words, a face, a scribble)")
    reason: str | None = Field(default=None, description='"not a number" when number is null')
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


ERROR_RESPONSES = {code: {"model": ErrorMessage} for code in (400, 413, 415, 422)}
