"""Find the writing in a picture: which marks are the digit, and which are not.

A phone screenshot has a status bar above the drawing and a colour palette below it; a
photo of a notebook has ruled lines, a margin and the table at its edge; a form has a
box around the digit. `digit_mask` finds the strokes that make the digit; `line_mask`
those of a number written on one line. Both take an ink image (`ink.ink_image`:
background 0, ink high) and return which of its pixels to keep.

The marks are the connected components (8-connected, `scipy.ndimage.label`) of the ink
above INK_THRESHOLD of its peak. In order:

    bands     the solid part of a mark lying along an edge of the picture (the table
              beyond the paper, a dark toolbar) is cleared: what survives a grey opening
              BAND_DEPTH thick, touching the edge along BORDER_SPAN of it
    rules     a thin line crossing RULE_SPAN of the picture (ruled paper, a margin) is
              cleared. Where a digit sits on it, only the line's own pixels go, found
              column by column along it, and only when the line runs on past the digit
              on both sides (RULE_BEYOND times its thickness): the bar of a tightly
              cropped 7 ends at its stem, so it stays
    specks    marks much smaller than the largest are dust, noise, JPEG artifacts
    frames    a thin outline around a mark a quarter of its size or more (a box or ring
              drawn around the digit) is a frame; a face's eyes are smaller
    the digit the largest mark, weighed by its size and how dark it is, is the digit's
              main stroke; it weighs less when it sits in the top or bottom EDGE_BAND of
              the picture (status bars, toolbars), is a round filled blob (a colour
              swatch) or a lone line along the picture. Marks within REACH of it join it
              (a 5's detached bar, a 4's separate stem), unless they are such chrome

None of this knows what digits look like; the classifier judges the result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .constants import INK_THRESHOLD

PAGE_SIDE = 96  # smaller pictures are crops of a digit: no rules or bands are looked for
RULE_SPAN = 0.85  # a line crossing this fraction of the picture may be a rule ...
RULE_FILL = 0.6  # ... if its pixels fill this fraction of the picture's width ...
SLOPES = np.linspace(-0.05, 0.05, 11)  # ... along one of these slopes (up to 3 degrees) ...
MAX_RULES = 40  # (at most this many lines are looked for in each direction)
RULE_THIN = 0.03  # ... if it is at most this thick for the picture's side (or 3 pixels)
RULE_BEYOND = 3  # ... and runs this many times its thickness past a digit on it, both sides
BAND_DEPTH = 0.02  # solid regions thicker than this fraction of the picture's side ...
BORDER_SPAN = 0.9  # ... along this much of an edge are the picture's border ...
BORDER_DEPTH = 0.25  # ... if they reach no further into it than this
SPECK = 0.08  # marks smaller than this fraction of the largest are specks
FRAMED = 0.25  # an outline around a mark at least this much of its size is a frame
SOLID = 0.72  # a round mark filling more of its box than this, with no hole, is a blob
EDGE_BAND = 0.15  # marks wholly in the top or bottom band this tall weigh less ...
CHROME_WEIGHT = 0.4  # ... by this factor, as do round filled blobs and lone lines
REACH = 0.3  # marks within this fraction of the digit's size of it are part of it
LINE_OVERLAP = 0.2  # a mark on the same line of writing shares this much of its height


@dataclass(frozen=True)
class Mark:
    """One connected mark: its label, box (y0, x0, y1, x1, ends exclusive), ink area and
    mean ink (0..255)."""

    label: int
    y0: int
    x0: int
    y1: int
    x1: int
    area: int
    darkness: float
    solid: bool = False  # filled, round and without a hole: a colour swatch, not a 0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def size(self) -> int:
        return max(self.height, self.width)

    @property
    def fill(self) -> float:
        """The share of its box the mark's ink covers."""
        return self.area / (self.height * self.width)

    def gap(self, other: Mark) -> int:
        """The distance between the two boxes (0 when they touch or overlap), in pixels."""
        dy = max(other.y0 - self.y1, self.y0 - other.y1, 0)
        dx = max(other.x0 - self.x1, self.x0 - other.x1, 0)
        return max(dy, dx)

    def inside(self, other: Mark) -> bool:
        """Whether this mark's box lies strictly inside the other's."""
        return (other.y0 < self.y0 and self.y1 < other.y1 and other.x0 < self.x0
                and self.x1 < other.x1)


def label_marks(mask: np.ndarray, ink: np.ndarray | None = None
                ) -> tuple[np.ndarray, list[Mark]]:
    """8-connected components of mask (H, W) bool -> (labels (H, W) int32, marks); each
    mark's darkness is its mean ink (H, W), or 255 without ink."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    flat = labels.reshape(-1)
    areas = np.bincount(flat, minlength=count + 1)
    sums = (np.bincount(flat, weights=ink.reshape(-1), minlength=count + 1) if ink is not None
            else 255.0 * areas)
    return labels, [Mark(k, s[0].start, s[1].start, s[0].stop, s[1].stop, int(areas[k]),
                         float(sums[k] / max(areas[k], 1)))
                    for k, s in enumerate(ndimage.find_objects(labels), 1) if s is not None]


def clear_bands(mask: np.ndarray) -> np.ndarray:
    """mask (H, W) bool without the solid regions lying along an edge (see the module doc)."""
    from scipy import ndimage

    h, w = mask.shape
    depth = max(3, round(BAND_DEPTH * min(h, w)))
    step = max(1, depth // 3)  # solid regions are found on every step-th pixel: they are wide
    coarse = mask[::step, ::step]
    size = max(2, round(depth / step))
    solid = ndimage.maximum_filter(ndimage.minimum_filter(coarse, size=size), size=size)
    if not solid.any():
        return mask
    solid = np.repeat(np.repeat(solid, step, axis=0), step, axis=1)[:h, :w] & mask
    labels, marks = label_marks(solid)
    out = mask.copy()
    for m in marks:
        if _is_border(m, mask.shape):
            region = (slice(max(m.y0 - 1, 0), m.y1 + 1), slice(max(m.x0 - 1, 0), m.x1 + 1))
            grown = ndimage.binary_dilation(labels[region] == m.label, iterations=2)
            out[region] &= ~grown
    return out


def clear_rules(mask: np.ndarray) -> np.ndarray:
    """mask (H, W) bool without thin lines crossing the picture (see the module doc).
    Both directions are judged on the mask as given, so a margin keeps its crossings
    with the ruled lines until both are cleared."""
    rules = _rules(mask, lone=True) | _rules(mask.T, lone=False).T
    return mask & ~rules


def run_lengths(mask: np.ndarray) -> np.ndarray:
    """For each pixel of mask (H, W) bool, the length of the horizontal run of True it
    lies in (0 off the mask) -> (H, W) int32."""
    h, w = mask.shape
    edges = np.zeros((h, w + 2), np.int8)
    edges[:, 1:-1] = mask
    steps = np.diff(edges, axis=1)
    rows, starts = np.nonzero(steps == 1)
    _, ends = np.nonzero(steps == -1)
    out = np.zeros(h * (w + 1), np.int32)  # a spare column so every run end has a slot
    lengths = (ends - starts).astype(np.int32)
    keys = rows * (w + 1) + starts
    out[keys] += lengths  # +length at a run's start, -length one past its end
    out[keys + lengths] -= lengths
    out = np.cumsum(out.reshape(h, w + 1), axis=1)[:, :w]
    return np.where(mask, out, 0).astype(np.int32)


def _rules(mask: np.ndarray, lone: bool) -> np.ndarray:
    """The pixels (H, W) bool of lines running left to right across mask (H, W) that
    `clear_rules` clears; lone: also a line with nothing on it (a lone vertical line may
    be a 1, so those are left to `_weight`).

    A line's pixels are "flat": in a vertical run no longer than the line is thick. They
    are projected along each of SLOPES; the fullest projection row is a line while it
    holds RULE_FILL of the picture's width. What sits on the line (ink in a longer
    vertical run, within two pixels of it) must end RULE_BEYOND times its thickness
    before either end of the line, as digits on ruled paper do and a 7's bar does not."""
    h, w = mask.shape
    thin = max(3, round(RULE_THIN * h))
    flat = mask & (thin >= run_lengths(mask.T).T)
    standing = mask & ~flat
    ys, xs = np.nonzero(flat)
    rules = np.zeros(mask.shape, bool)
    pad = int(np.ceil(SLOPES.max() * w)) + 1
    alive = np.ones(len(ys), bool)
    offsets = [np.rint(ys - slope * xs).astype(np.int64) + pad for slope in SLOPES]
    for _ in range(MAX_RULES):
        if alive.sum() < RULE_FILL * w:
            break
        counts = [np.bincount(o[alive], minlength=h + 2 * pad) for o in offsets]
        best = int(np.argmax([c.max() for c in counts]))
        count, row = counts[best], int(counts[best].argmax())
        if count[row] < RULE_FILL * w:
            break
        low, high = row, row
        while low > 0 and count[low - 1] >= 0.25 * count[row] and high - low < thin:
            low -= 1
        while high + 1 < len(count) and count[high + 1] >= 0.25 * count[row] and \
                high - low < thin:
            high += 1
        on = alive & (offsets[best] >= low) & (offsets[best] <= high)
        alive &= ~on
        left, right = int(xs[on].min()), int(xs[on].max())
        if right - left < RULE_SPAN * w:
            continue
        columns = np.arange(left, right + 1)
        top = low - pad + SLOPES[best] * columns  # (k,) the line's upper edge per column
        band = np.rint(top[:, None] + np.arange(-2, high - low + 3)[None, :]).astype(np.int64)
        inside = (band >= 0) & (band < h)
        touched = (standing[np.clip(band, 0, h - 1), columns[:, None]] & inside).any(axis=1)
        busy = np.flatnonzero(touched)
        if len(busy):
            beyond = max(RULE_BEYOND * (high - low + 1), 0.02 * w)
            if busy[0] < beyond or len(columns) - 1 - busy[-1] < beyond:
                continue
        elif not lone:
            continue
        rules[ys[on], xs[on]] = True
    return rules


def _is_border(mark: Mark, shape: tuple[int, int]) -> bool:
    """A mark lying along an edge of the picture: touching it along BORDER_SPAN of it, and
    no deeper than BORDER_DEPTH of the picture (a tightly cropped digit touches the edges
    too, but fills the picture across)."""
    h, w = shape
    return ((mark.y0 == 0 or mark.y1 == h) and mark.width >= BORDER_SPAN * w
            and mark.height <= BORDER_DEPTH * h) or \
           ((mark.x0 == 0 or mark.x1 == w) and mark.height >= BORDER_SPAN * h
            and mark.width <= BORDER_DEPTH * w)


def _chrome(mark: Mark, shape: tuple[int, int]) -> bool:
    """A mark that looks like part of an app's screen or the page rather than writing: in
    the top or bottom edge band, a round filled blob, or a thin line along the picture."""
    h, _ = shape
    band = EDGE_BAND * h
    in_band = mark.y1 <= band or mark.y0 >= h - band
    blob = mark.solid
    line = mark.width >= 8 * mark.height or (mark.height >= RULE_SPAN * h
                                             and mark.height >= 8 * mark.width)
    return in_band or blob or line


def _weight(mark: Mark, shape: tuple[int, int]) -> float:
    """How strongly a mark claims to be the writing: its size times its darkness, less
    for chrome."""
    return mark.size * mark.darkness * (CHROME_WEIGHT if _chrome(mark, shape) else 1.0)


def candidate_marks(ink: np.ndarray, frames: bool = True
                    ) -> tuple[np.ndarray, list[Mark], np.ndarray]:
    """The marks of ink (H, W) that may be writing: bands, rules, borders, specks and
    (if `frames`) frames left out -> (labels (H, W), marks, the pixels (H, W) bool
    cleared as bands and rules)."""
    h, w = ink.shape
    found = ink > INK_THRESHOLD * float(ink.max())
    mask = found
    labels, marks = label_marks(mask, ink)
    if max(h, w) < PAGE_SIDE:  # a crop of a digit, not a page: no rules or bands
        pass
    elif any(_is_border(m, ink.shape) for m in marks):  # (these checks are cheap, the work not)
        mask = clear_bands(mask)
        labels, marks = label_marks(mask, ink)
    if max(h, w) >= PAGE_SIDE and any(m.width >= RULE_SPAN * w or m.height >= RULE_SPAN * h
                                      for m in marks):
        mask = clear_rules(mask)
        labels, marks = label_marks(mask, ink)
    cleared = found & ~mask
    marks = [m for m in marks if not _is_border(m, ink.shape)]
    if not marks:
        return labels, [], cleared
    largest = max(m.size for m in marks)
    marks = [m for m in marks if m.size >= SPECK * largest]
    framing = {m.label for m in marks if frames and m.fill < 0.2
               and any(o.inside(m) and o.size >= FRAMED * m.size for o in marks if o is not m)}
    marks = [dataclasses.replace(m, solid=_solid(labels, m)) for m in marks
             if m.label not in framing]
    return labels, marks, cleared


def _solid(labels: np.ndarray, mark: Mark) -> bool:
    """Whether a mark is a round filled blob (a colour swatch): roughly as wide as tall,
    covering most of its box, and without a hole (a thick 0 has one)."""
    from scipy import ndimage

    if mark.fill <= SOLID or not 0.7 <= mark.height / mark.width <= 1.4:
        return False
    own = labels[mark.y0:mark.y1, mark.x0:mark.x1] == mark.label
    return int(ndimage.binary_fill_holes(own).sum()) == mark.area


@dataclass(frozen=True)
class Choice:
    """The writing found in an ink image (H, W): which pixels to keep at this scale, and
    what a finer look at the same picture needs to make the same choice."""

    keep: np.ndarray  # (H, W) bool: the chosen strokes, their faint rim, other faint ink
    #                   in their box; not other marks or cleared lines
    strokes: np.ndarray  # (H, W) bool: the chosen marks' own pixels
    cleared: np.ndarray  # (H, W) bool: lines and bands cleared from the picture


def _choice(labels: np.ndarray, marks: list[Mark], cleared: np.ndarray) -> Choice:
    """What to keep for the marks: everything within their box except the other marks
    and the cleared pixels, each with a rim two pixels wide (their anti-aliased edges),
    unless a kept stroke is there."""
    from scipy import ndimage

    h, w = labels.shape
    box = (slice(max(min(m.y0 for m in marks) - 2, 0), min(max(m.y1 for m in marks) + 2, h)),
           slice(max(min(m.x0 for m in marks) - 2, 0), min(max(m.x1 for m in marks) + 2, w)))
    wanted = np.zeros(int(labels.max()) + 1, bool)
    wanted[[m.label for m in marks]] = True
    strokes = wanted[labels]
    window = labels[box]
    others = ((window > 0) & ~strokes[box]) | cleared[box]
    if others.any():
        others = ndimage.binary_dilation(others, structure=np.ones((5, 5), bool))
    keep = np.zeros(labels.shape, bool)
    keep[box] = strokes[box] | ~others
    return Choice(keep, strokes, cleared)


def _main(marks: list[Mark], shape: tuple[int, int]) -> Mark:
    """The mark most likely to be writing: the heaviest that is not chrome, if any is."""
    plain = [m for m in marks if not _chrome(m, shape)]
    return max(plain or marks, key=lambda m: _weight(m, shape))


def digit_mask(ink: np.ndarray) -> Choice | None:
    """Which pixels of ink (H, W) belong to the one digit in the picture, or None when no
    mark could be writing (see the module doc)."""
    labels, marks, cleared = candidate_marks(ink)
    if not marks:
        return None
    main = _main(marks, ink.shape)
    chrome = _chrome(main, ink.shape)
    group = [main]
    for mark in sorted(marks, key=lambda m: main.gap(m)):
        if mark is main or (_chrome(mark, ink.shape) and not chrome):
            continue
        if any(g.gap(mark) <= REACH * main.size for g in group):
            group.append(mark)
    return _choice(labels, group, cleared)


def line_mask(ink: np.ndarray) -> Choice | None:
    """Which pixels of ink (H, W) belong to one line of writing (a number), or None:
    starting from the main mark, every mark sharing LINE_OVERLAP of its height
    with a mark already kept, or within reach of one, joins, so a slanted or wavy line
    is followed to its ends and a second line of writing is left out. Outlines around
    other marks stay: reading them (a face's ring round its eyes) tells that this is no
    number (`segment.nested`)."""
    labels, marks, cleared = candidate_marks(ink, frames=False)
    if not marks:
        return None
    main = _main(marks, ink.shape)
    chrome = _chrome(main, ink.shape)
    kept, rest = [main], [m for m in marks if m is not main
                          and (chrome or not _chrome(m, ink.shape))]
    grew = True
    while grew:
        grew = False
        for mark in list(rest):
            if any(_same_line(mark, k) for k in kept):
                kept.append(mark)
                rest.remove(mark)
                grew = True
    return _choice(labels, kept, cleared)


def _same_line(mark: Mark, other: Mark) -> bool:
    """Whether two marks are on one line of writing: they share LINE_OVERLAP of the
    shorter one's height, or lie within reach of each other."""
    shared = min(mark.y1, other.y1) - max(mark.y0, other.y0)
    return shared >= LINE_OVERLAP * min(mark.height, other.height) or \
        other.gap(mark) <= REACH * other.size
