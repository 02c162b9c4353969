"""Reading whole numbers: split a picture of a handwritten number into its digits.

A picture is turned into ink exactly as for one digit (`images.find_writing`: polarity,
light, background and contrast, `ink.py`), keeping one line of writing and clearing
other marks (ruled lines, frames, a screen's bars: `writing.line_mask`). Then, as pure
functions on arrays:

    label_components  connected components of the ink mask (8-connected, SciPy)
    find_pieces       components -> pieces of one digit each:
                        1. specks (much smaller than the writing) are dropped;
                        2. a flat component (under half the writing's height) joins
                           the piece nearest in columns, unless it shares no columns with
                           any (a dash or a comma between digits: dropped as a sign), and
                           a partial-height one joins a
                           piece sharing most of its columns: a 5's detached bar; a thin
                           stroke joins the piece beside it when the classifier scores
                           them higher as one digit than as two: a 4 whose stem and bar
                           do not meet;
                        3. a piece wider than 0.5 of its height (UNCUT) may hold touching
                           or overlapping digits: candidate cuts start at the columns
                           crossing the least ink and follow the path of least ink from
                           top to bottom (a seam, straying up to SEAM_REACH); every stretch
                           between two of them (or the piece's sides) is made into a
                           network input and scored; the split into parts with the highest
                           product of score x shape prior, times exp(-CROSSING_COST) for
                           every stroke's width of ink its cuts cross, wins (dynamic
                           programming). Not cutting is one of the splits, and the ink a
                           cut crosses keeps digits whole unless cutting pays: two touching
                           digits meet in a point, a wide 0 cut in two loses both its arcs;
                        4. pieces are ordered by the centre of their columns, which
                           does not depend on the baseline, so slanted or wavy lines of
                           writing read in order.
    segment           a picture -> a list of Segment(box, pixels): each digit's box in the
                      picture's own pixel coordinates and its (28, 28) network input, made
                      by `images.preprocess_ink`: the very steps a single digit goes through
    read_number       segment, then classify each digit -> a Reading ("2025", per digit:
                      digit, probability, box)

How surely a crop is a digit is asked in one place, `digit_scores`; everything that
weighs segmentations goes through it. Not here: several lines of writing, decimal points
or signs (dropped as specks, or as flat marks between digits), or digits written inside
one another's columns.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .constants import INK_THRESHOLD
from .errors import ImageError
from .images import find_writing, load_image, preprocess_ink, to_grayscale
from .writing import line_mask

SPECK = 0.25  # a component smaller than this fraction of the writing's height is a speck
PARTIAL = 0.7  # a component shorter than this fraction of the writing is part of a digit ...
SHARED = 0.5  # ... merged into a neighbour sharing at least this fraction of its columns
FLAT = 0.5  # a component shorter than this fraction of the writing joins its nearest piece
THIN = 0.3  # a component at most this wide for its height is a stroke that may join a piece
ONE_DIGIT = 1.0  # a part at most this wide for its height is fully plausible as one digit
UNCUT = 0.5  # a piece at most this wide for its height is one digit, never cut (a 1
#              touching a 9 or a 3 can be as narrow as 0.67: cut those)
ASPECT_SPREAD = 0.6  # how fast a wider part becomes implausible as one digit (see _shape_prior)
SHORT = 0.1  # a cut-off part much shorter than its piece is this much less plausible
CROSSING_COST = 0.25  # a cut's worth falls by exp(-this) per stroke width of ink it crosses
MAX_CUTS = 16  # candidate cut lines per piece, at most
SEAM_REACH = 0.4  # a seam strays at most this fraction of the piece's height from its column
MAX_DIGITS = 60  # pictures with more separate marks than this are refused (not a number)
NOT_A_NUMBER = 0.25  # a reading with two doubtful digits making this share is not a number,
MOSTLY = 0.5  # ... nor one with this share of doubtful digits, however few ...
FAR_BELOW = 0.6  # ... nor one with a digit scoring under this fraction of the threshold

Scores = Callable[[np.ndarray], np.ndarray]  # network inputs (n, 28, 28) -> scores (n,)


def digit_scores(model: Any, x: np.ndarray) -> np.ndarray:
    """How surely each network input (n, 28, 28) is a digit -> (n,) scores in 0..1.

    The one place segmentation asks the classifier: the model's `digit_score` (its
    highest softmax probability; below the model's reject_threshold, "not a digit").
    """
    return model.digit_score(x)


@dataclass(frozen=True)
class Segment:
    """One digit found in a picture."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the picture's pixels (x1, y1 exclusive)
    pixels: np.ndarray  # (28, 28) uint8, the network's input, as images.preprocess makes it


@dataclass(frozen=True)
class ReadDigit:
    """One digit of a number as read: the digit, its probability and where it is."""

    digit: int
    probability: float
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the picture's pixels (x1, y1 exclusive)
    pixels: np.ndarray  # (28, 28) uint8 network input
    doubtful: bool = False  # its probability is below the model's reject threshold: alone,
    #                         this mark would be declined as "not a digit"

    def to_dict(self) -> dict[str, Any]:
        return {"digit": self.digit, "probability": self.probability, "box": list(self.box),
                "doubtful": self.doubtful}


@dataclass(frozen=True)
class Reading:
    """What was read in a picture: its digits left to right, and whether they make a number.

    A reading that is not a number (`is_number` False: words, a face, stars, a
    scribble) keeps the digits the network guessed, for whoever wants to look; its
    `number` is None."""

    digits: list[ReadDigit]
    is_number: bool = True

    @property
    def number(self) -> str | None:
        """The digits as a string ("2025"), or None when the picture is not a number."""
        return "".join(str(d.digit) for d in self.digits) if self.is_number else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"number": self.number}
        if not self.is_number:
            out["reason"] = "not a number"
        out["digits"] = [d.to_dict() for d in self.digits]
        return out


def is_number(probabilities: np.ndarray, threshold: float) -> bool:
    """Whether digits read with these probabilities (n,) make a number, for a model
    that declines a digit below `threshold` (0: never declines, so always a number).

    Not a number when two or more digits are doubtful (below the threshold) and make
    NOT_A_NUMBER of them, or MOSTLY of them are, or any one is far below the threshold
    (under FAR_BELOW of it): one doubtful digit in a number is a smudge, or another
    writer's odd digit; a word is mostly letters. (`read_number` also calls a picture
    with a mark inside another's loop, a face, not a number: `nested`.)"""
    if threshold <= 0 or not len(probabilities):
        return bool(len(probabilities))
    doubtful = probabilities < threshold
    share = float(doubtful.mean())
    if (doubtful.sum() >= 2 and share >= NOT_A_NUMBER) or share >= MOSTLY:
        return False
    return bool((probabilities >= FAR_BELOW * threshold).all())


# ---------------------------------------------------------------------------------------
# Connected components


def ink_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of True in mask (H, W) -> (rows, starts, ends), each (n,) int64,
    in row-major order; a run covers columns starts[i] <= c < ends[i] of rows[i]."""
    h, w = mask.shape
    edges = np.zeros((h, w + 2), np.int8)
    edges[:, 1:-1] = mask
    steps = np.diff(edges, axis=1)  # +1 where a run starts, -1 one past where it ends
    rows, starts = np.nonzero(steps == 1)
    _, ends = np.nonzero(steps == -1)
    return rows, starts, ends


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of mask (H, W) bool -> (labels (H, W) int32, count).

    Labels are 0 for background and 1..count, numbered in order of each component's first
    pixel (row-major), as `scipy.ndimage.label` numbers them."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    return labels.astype(np.int32), int(count)


# ---------------------------------------------------------------------------------------
# Pieces: components grouped and cut into one digit each


@dataclass
class _Piece:
    """Part of the ink mask believed to be one digit: a mask over its box."""

    x0: int
    y0: int
    mask: np.ndarray  # (h, w) bool, the piece's own ink within its box

    @property
    def x1(self) -> int:
        return self.x0 + self.mask.shape[1]

    @property
    def y1(self) -> int:
        return self.y0 + self.mask.shape[0]

    @property
    def height(self) -> int:
        return self.mask.shape[0]

    @property
    def width(self) -> int:
        return self.mask.shape[1]


def _component_boxes(labels: np.ndarray, count: int) -> np.ndarray:
    """Boxes (count, 4) of labels 1..count as x0, y0, x1, y1 (exclusive ends)."""
    ys, xs = np.nonzero(labels)
    ids = labels[ys, xs] - 1
    boxes = np.empty((count, 4), np.int64)
    boxes[:, 0] = boxes[:, 1] = np.iinfo(np.int64).max
    boxes[:, 2] = boxes[:, 3] = -1
    np.minimum.at(boxes[:, 0], ids, xs)
    np.minimum.at(boxes[:, 1], ids, ys)
    np.maximum.at(boxes[:, 2], ids, xs + 1)
    np.maximum.at(boxes[:, 3], ids, ys + 1)
    return boxes


def _crop(mask: np.ndarray) -> _Piece | None:
    """The piece holding all of mask (H, W), positioned in mask's coordinates."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return _Piece(int(cols[0]), int(rows[0]),
                  mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])


def _group(labels: np.ndarray, boxes: np.ndarray, keep: np.ndarray,
           writing: float) -> list[_Piece]:
    """Merge partial-height components into the component sharing most of their columns;
    drop flat ones that share columns with none (signs between digits).

    keep: (count,) bool, the components that are not specks; writing: the writing's height.
    Returns one _Piece per group, its mask holding only its own components' ink.
    """
    ids = [int(i) for i in np.flatnonzero(keep)]
    group = {i: i for i in ids}

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    heights = boxes[:, 3] - boxes[:, 1]
    widths = boxes[:, 2] - boxes[:, 0]
    signs: set[int] = set()
    for i in sorted(ids, key=lambda i: heights[i]):  # smallest pieces find a home first
        if heights[i] >= PARTIAL * writing or len(ids) == 1:
            continue
        shared = np.array([min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
                           if j != i and j not in signs else -np.inf
                           for j in ids])  # < 0: the gap between
        best = int(np.argmax(shared))
        if heights[i] < FLAT * writing and shared[best] < 0:
            signs.add(i)  # a flat mark in a gap, above no digit: a dash, a comma
        elif heights[i] < FLAT * writing or (
                shared[best] >= SHARED * min(widths[i], widths[ids[best]])):
            group[root(i)] = root(ids[best])
    members: dict[int, list[int]] = {}
    for i in ids:
        if i not in signs:
            members.setdefault(root(i), []).append(i + 1)
    pieces = []
    for labels_in in members.values():
        x0 = int(min(boxes[k - 1, 0] for k in labels_in))
        y0 = int(min(boxes[k - 1, 1] for k in labels_in))
        x1 = int(max(boxes[k - 1, 2] for k in labels_in))
        y1 = int(max(boxes[k - 1, 3] for k in labels_in))
        window = labels[y0:y1, x0:x1]
        pieces.append(_Piece(x0, y0, np.isin(window, labels_in)))
    return pieces


def _joined(a: _Piece, b: _Piece) -> _Piece:
    """One piece holding the ink of both."""
    x0, y0 = min(a.x0, b.x0), min(a.y0, b.y0)
    mask = np.zeros((max(a.y1, b.y1) - y0, max(a.x1, b.x1) - x0), bool)
    for p in (a, b):
        mask[p.y0 - y0:p.y1 - y0, p.x0 - x0:p.x1 - x0] |= p.mask
    return _Piece(x0, y0, mask)


def _join_strokes(pieces: list[_Piece], ink: np.ndarray, score: Scores,
                  stroke: float) -> list[_Piece]:
    """Join a thin stroke to the piece beside it (within half a stroke's width) when the two
    read better as one digit than as two: a 4 whose stem does not meet its bar. Joined
    wins when s(joined) > s(a) * s(b), the same rule as for a cut that crosses no ink."""
    pieces = sorted(pieces, key=lambda p: p.x0)
    pairs = []
    for k, (a, b) in enumerate(itertools.pairwise(pieces)):
        near = b.x0 - a.x1 <= stroke / 2
        thin = min(a.width / a.height, b.width / b.height) <= THIN
        if near and thin:
            joined = _joined(a, b)
            if joined.width <= ONE_DIGIT * joined.height:
                pairs.append((k, joined))
    if not pairs:
        return pieces
    flat = [p for k, joined in pairs for p in (pieces[k], pieces[k + 1], joined)]
    s = score(_inputs(ink, flat)).reshape(-1, 3)  # (pairs, 3): a, b, joined
    out, skip = [], set()
    for (k, joined), (sa, sb, sj) in zip(pairs, s, strict=True):
        if k not in skip and sj > sa * sb:
            out.append((k, joined))
            skip.update((k, k + 1))
    merged = dict(out)
    result = []
    for k, piece in enumerate(pieces):
        if k in merged:
            result.append(merged[k])
        elif k not in skip:
            result.append(piece)
    return result


def _inputs(ink: np.ndarray, pieces: list[_Piece]) -> np.ndarray:
    """The network inputs (n, 28, 28) uint8 for pieces of the ink image (H, W).

    Each piece's ink is its mask grown by one pixel (to keep the anti-aliased edge of the
    strokes) times the ink, so a neighbour's strokes inside its box are left out."""
    out = np.empty((len(pieces), 28, 28), np.uint8)
    for k, piece in enumerate(pieces):
        y0, x0 = max(piece.y0 - 1, 0), max(piece.x0 - 1, 0)
        y1, x1 = min(piece.y1 + 1, ink.shape[0]), min(piece.x1 + 1, ink.shape[1])
        own = np.zeros((y1 - y0, x1 - x0), bool)
        own[piece.y0 - y0:piece.y1 - y0, piece.x0 - x0:piece.x1 - x0] = piece.mask
        grown = own.copy()
        grown[1:] |= own[:-1]
        grown[:-1] |= own[1:]
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
        out[k] = preprocess_ink(np.where(grown, ink[y0:y1, x0:x1], 0))
    return out


def _cut_lines(piece: _Piece, stroke: float) -> list[np.ndarray]:
    """Candidate cuts through a piece, left to right: each (h,) the cut's column in every
    row of the piece. They start from the columns crossing the least ink (at least a
    stroke from the sides and from each other) and follow the least ink (`_seam`)."""
    h, w = piece.mask.shape
    margin = max(round(stroke), 2)
    if w <= 2 * margin:
        return []
    profile = piece.mask.sum(axis=0)
    wanted = min(MAX_CUTS, 2 + 3 * round(w / h))  # about three per digit the piece may hold
    columns: list[int] = []
    for c in np.argsort(profile[margin:w - margin], kind="stable") + margin:
        if all(abs(int(c) - other) > stroke for other in columns):
            columns.append(int(c))
        if len(columns) == wanted:
            break
    return [_seam(piece.mask, c, max(2, round(SEAM_REACH * h))) for c in sorted(columns)]


def _seam(mask: np.ndarray, column: int, reach: int) -> np.ndarray:
    """The cut from top to bottom of mask (h, w) near `column` that crosses the least ink:
    (h,) its column in each row, moving at most one column per row and staying within
    `reach` of `column` (dynamic programming over rows, as in seam carving). Pixels left
    of it go to the left part."""
    h, w = mask.shape
    columns = np.arange(max(column - reach, 1), min(column + reach, w - 1) + 1)
    pull = 0.01 * np.abs(columns - column)  # among equal seams, the one nearest the column
    ink = mask[:, columns].astype(np.float64) + pull  # (h, k)
    padded = np.full(len(columns) + 2, np.inf)  # the cost so far, inf beyond the ends
    padded[1:-1] = ink[0]
    options = sliding_window_view(padded, 3)  # (k, 3): from the left, above, the right
    step = np.zeros((h, len(columns)), np.int64)  # -1, 0, +1: where each row came from
    for r in range(1, h):
        choice = options.argmin(axis=1)
        step[r] = choice - 1
        padded[1:-1] = options.min(axis=1) + ink[r]  # a new array, then written in place
    path = np.empty(h, np.int64)
    path[-1] = int(padded[1:-1].argmin())
    for r in range(h - 1, 0, -1):
        path[r - 1] = path[r] + step[r, path[r]]
    return columns[path].astype(np.float64)


def _shape_prior(part: _Piece, height: int) -> float:
    """How plausible a part of a piece `height` tall is as one digit: 1 up to ONE_DIGIT
    times as wide as tall, then falling (a Gaussian in the excess aspect ratio of width
    ASPECT_SPREAD); times SHORT if it is under PARTIAL of the piece's height (digits
    written side by side are about equally tall; a flap cut off one digit is not)."""
    excess = max(part.width / part.height - ONE_DIGIT, 0.0)
    short = SHORT if part.height < PARTIAL * height else 1.0
    return short * float(np.exp(-(excess / ASPECT_SPREAD) ** 2))


def _split(piece: _Piece, ink: np.ndarray, score: Scores, stroke: float,
           speck: float) -> list[_Piece]:
    """Cut a piece into the digits it most plausibly holds (possibly just itself).

    The candidate cut lines and the piece's sides are the nodes of a left-to-right path;
    the stretch between two nodes is a part, worth log(score * shape prior), and passing
    a cut line costs CROSSING_COST per stroke width of ink on it (`stroke`: the typical
    width of a stroke, pixels). The best path is found by dynamic programming over all
    pairs of nodes."""
    if piece.width <= UNCUT * piece.height:
        return [piece]
    h, w = piece.mask.shape
    lines = _cut_lines(piece, stroke)
    nodes = [np.full(h, -np.inf), *lines, np.full(h, np.inf)]
    columns = np.arange(w)[None, :]
    parts: dict[tuple[int, int], _Piece] = {}
    for i in range(len(nodes)):
        right_of = columns >= nodes[i][:, None]  # (h, w)
        for j in range(i + 1, len(nodes)):
            part = _clean(piece.mask & right_of & (columns < nodes[j][:, None]), speck)
            if part is not None:
                parts[i, j] = _moved(part, piece)
    keys = list(parts)
    scores = score(_inputs(ink, [parts[k] for k in keys]))  # (len(keys),)
    worth = {k: np.log(max(float(s) * _shape_prior(parts[k], h), 1e-300))
             for k, s in zip(keys, scores, strict=True)}
    rows = np.arange(h)
    crossing = [0.0] + [CROSSING_COST * float(piece.mask[rows, line.astype(np.int64)].sum())
                        / stroke for line in lines]  # (nodes - 1,): leaving node i costs this
    best = [0.0] + [-np.inf] * (len(nodes) - 1)  # best[j]: the best path ending at node j
    previous = [0] * len(nodes)
    for j in range(1, len(nodes)):
        for i in range(j):
            if (i, j) in worth and best[i] + worth[i, j] - crossing[i] > best[j]:
                best[j], previous[j] = best[i] + worth[i, j] - crossing[i], i
    if not np.isfinite(best[-1]):
        return [piece]
    path, j = [], len(nodes) - 1
    while j > 0:
        path.append(parts[previous[j], j])
        j = previous[j]
    return path[::-1]


def _clean(mask: np.ndarray, speck: float) -> _Piece | None:
    """The part of mask (h, w) left once components smaller than `speck` are dropped,
    cropped to its ink; None if nothing is left."""
    labels, count = label_components(mask)
    if count == 0:
        return None
    boxes = _component_boxes(labels, count)
    big = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= speck
    if not big.any():
        return None
    return _crop(np.isin(labels, np.flatnonzero(big) + 1))


def _moved(part: _Piece, within: _Piece) -> _Piece:
    """part, positioned in within's box, moved into the picture's coordinates."""
    return _Piece(part.x0 + within.x0, part.y0 + within.y0, part.mask)


def find_pieces(ink: np.ndarray, score: Scores) -> list[_Piece]:
    """The ink image (H, W) -> one piece per digit, left to right (see the module doc)."""
    mask = ink > INK_THRESHOLD * float(ink.max())
    labels, count = label_components(mask)
    if count == 0:
        raise ImageError("blank image: no ink found")
    boxes = _component_boxes(labels, count)
    heights = boxes[:, 3] - boxes[:, 1]
    sizes = np.maximum(heights, boxes[:, 2] - boxes[:, 0])
    areas = np.bincount(labels.reshape(-1), minlength=count + 1)[1:]
    writing = float(np.median(heights[areas >= 0.2 * areas.max()]))
    speck = SPECK * writing
    keep = sizes >= speck
    if keep.sum() > MAX_DIGITS:
        raise ImageError(f"found {int(keep.sum())} separate marks, more than the "
                         f"{MAX_DIGITS} digits a number may have here")
    rows, starts, ends = ink_runs(mask)
    written = keep[labels[rows, starts] - 1]  # runs of the writing, not of specks
    stroke = float(np.median((ends - starts)[written]))  # a run mostly crosses one stroke
    pieces = []
    for piece in _join_strokes(_group(labels, boxes, keep, writing), ink, score, stroke):
        pieces.extend(_split(piece, ink, score, stroke, speck))
    return sorted(pieces, key=lambda p: p.x0 + p.x1)


# ---------------------------------------------------------------------------------------
# Pictures in, digits out


def segment(image: Any, model: Any) -> list[Segment]:
    """A picture of a number -> its digits, left to right.

    image: a path, a PIL image or an array, as `images.preprocess` takes. model: the
    classifier that judges where touching digits are cut (see `digit_scores`). Raises
    ImageError if the picture is unreadable or holds no ink.
    """
    return _segmented(image, model)[0]


def _segmented(image: Any, model: Any) -> tuple[list[Segment], bool]:
    """`segment`, and whether a mark of the writing lies inside another's loop (`nested`)."""
    if isinstance(image, (str, os.PathLike)):
        try:
            return _segmented(load_image(image), model)
        except ImageError as e:
            message = str(e)
            raise ImageError(message if message.startswith(str(image))
                             else f"{image}: {message}") from None
    gray = to_grayscale(image)  # may be a large picture shrunk by a whole factor
    width, height = gray.shape[::-1] if isinstance(image, np.ndarray) else image.size
    scale = -(-max(width, height) // max(gray.shape))  # that factor, 1 if not shrunk
    ink, (top, left) = find_writing(gray, line_mask)  # the line of writing, cropped
    pieces = find_pieces(ink, lambda x: digit_scores(model, x))
    pixels = _inputs(ink, pieces)
    return [Segment(((p.x0 + left) * scale, (p.y0 + top) * scale,
                     min((p.x1 + left) * scale, width), min((p.y1 + top) * scale, height)),
                    pixels[k])
            for k, p in enumerate(pieces)], nested(ink)


def nested(ink: np.ndarray) -> bool:
    """Whether a mark of the ink (H, W) lies inside the loop of another (eyes in a face, a
    letter in a ring): no two digits of a number do. Specks do not count: a mark must be
    SPECK of the writing's height or more."""
    from scipy import ndimage

    mask = ink > INK_THRESHOLD * float(ink.max())
    labels, count = label_components(mask)
    if count < 2:
        return False
    boxes = _component_boxes(labels, count)
    heights = boxes[:, 3] - boxes[:, 1]
    sizes = np.maximum(heights, boxes[:, 2] - boxes[:, 0])
    big = np.flatnonzero(sizes >= SPECK * float(heights.max())) + 1  # labels of real marks
    filled, _ = ndimage.label(ndimage.binary_fill_holes(mask), structure=np.ones((3, 3), bool))
    values, where = np.unique(labels.reshape(-1), return_index=True)
    first = dict(zip(values.tolist(), where.tolist(), strict=True))  # each mark's 1st pixel
    homes = [int(filled.reshape(-1)[first[int(k)]]) for k in big]  # the blob it lies in
    return len(set(homes)) < len(homes)


def read_number(model: Any, image: Any) -> Reading:
    """Read the number written in a picture: segment it, then classify each digit.

    Returns a Reading; `reading.number` is the digits as a string ("2025"), each digit
    the network's best guess, marked `doubtful` where the model would decline it alone
    (`Model.declines`), or None when they do not make a number (`is_number`). Raises
    ImageError for an unreadable picture or one holding no ink.
    """
    segments, inside = _segmented(image, model)
    if not segments:
        raise ImageError("no digits found")
    probabilities = model.predict_proba(np.stack([s.pixels for s in segments]))  # (n, 10)
    scores = model.digit_score(np.stack([s.pixels for s in segments]))  # (n,)
    doubtful = model.declines(scores)  # (n,) bool
    return Reading([ReadDigit(int(p.argmax()), float(p.max()), s.box, s.pixels, bool(d))
                    for s, p, d in zip(segments, probabilities, doubtful, strict=True)],
                   is_number(scores, model.reject_threshold)
                   and not (inside and model.reject_threshold > 0))
