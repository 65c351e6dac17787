"""Point labels that never overprint each other, the points or the axes' edges.

A leaderboard plot has dozens of points, many of them close (a paper's medium and large
model, a run and the row it reproduces). Each label tries a few spots around its point
in turn and takes the first one that is free; a label with no free spot is left out
(the table beside the plot names every point). Placing in a fixed order with fixed
candidate spots keeps the picture the same from one run to the next, which iterative
repelling (adjustText's way) does not promise, and needs nothing beyond matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.text import Annotation
    from matplotlib.transforms import Bbox

# (x, y offset in points, horizontal alignment, vertical alignment): right of the point
# first, where a reader looks, then left, above and below
_SPOTS = [
    (5, 2, "left", "bottom"),
    (5, -2, "left", "top"),
    (-5, 2, "right", "bottom"),
    (-5, -2, "right", "top"),
    (0, 6, "center", "bottom"),
    (0, -6, "center", "top"),
    (9, 9, "left", "bottom"),
    (9, -9, "left", "top"),
    (-9, 9, "right", "bottom"),
    (-9, -9, "right", "top"),
]
MARKER_HALF_PX = 4.0  # half a marker's size on screen: a label may not cover a point


def _marker_box(axes: Axes, x: float, y: float) -> Bbox:
    from matplotlib.transforms import Bbox

    px, py = axes.transData.transform((x, y))
    half = MARKER_HALF_PX * axes.figure.dpi / 72
    return Bbox.from_extents(px - half, py - half, px + half, py + half)


def place_labels(
    axes: Axes,
    xs: Sequence[float],
    ys: Sequence[float],
    names: Sequence[str],
    *,
    fontsize: float = 6.5,
    colours: Sequence[str] | None = None,
) -> list[Annotation]:
    """Label the points in the given order (the most important first); return the labels
    placed. Call it once the figure's layout is final (after a draw), since it measures
    the labels on screen."""
    renderer = axes.figure.canvas.get_renderer()
    frame = axes.get_window_extent(renderer)
    taken = [_marker_box(axes, x, y) for x, y in zip(xs, ys, strict=True)]
    placed = []
    for index, (x, y, name) in enumerate(zip(xs, ys, names, strict=True)):
        own = taken[index]
        for dx, dy, ha, va in _SPOTS:
            label = axes.annotate(
                name,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=fontsize,
                color=colours[index] if colours else "#333333",
                annotation_clip=False,
            )
            label.set_parse_math(False)  # names come from stored runs: "$" is text
            box = label.get_window_extent(renderer).expanded(1.04, 1.1)
            inside = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
            if inside and not any(box.overlaps(other) for other in taken if other is not own):
                taken.append(box)
                placed.append(label)
                break
            label.remove()
    return placed
