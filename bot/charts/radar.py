"""A radar (spider) chart of per-factor scores, one polygon per wave (course end, day 30 ...).

Drawn on plain Cartesian axes (straight edges, polygon grid), the first axis at the top and
the others clockwise, the scale minimum at the centre. A missing value (None) leaves a gap in
its series' outline and fill, and the series' legend entry shows how many values it has
("第30天 (15/16)"); an axis that no series has a value for is labelled in grey.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Polygon
from matplotlib.path import Path

from bot.charts import (
    BARRIER_COLOUR,
    CATALYST_COLOUR,
    GRID_COLOUR,
    LABEL_SIZE,
    MUTED_COLOUR,
    SERIES_COLOURS,
    SERIES_LINESTYLES,
    SERIES_MARKERS,
    SMALL_SIZE,
    TEXT_COLOUR,
    WIDTH_PX,
    Series,
    check_series,
    draw_legend,
    draw_note,
    draw_title,
    legend_height,
    new_figure,
    note_height,
    render_png,
    title_height,
    wrap_label,
)
from bot.charts.fonts import cjk_font

MIN_AXES = 3
MAX_AXES = 16
LABEL_COLUMNS = 12  # six CJK characters a line
RADIUS_PX = 330  # the scale maximum, in pixels from the centre
LABEL_GAP = 1.07  # axis labels sit just outside the outer ring (in radius units)
RADAR_HEIGHT_PX = 840

Point = tuple[float, float]


def _point(angle: float, radius: float) -> Point:
    return (radius * math.sin(angle), radius * math.cos(angle))


def _ring(angles: Sequence[float], radius: float) -> list[Point]:
    return [_point(angle, radius) for angle in angles]


def _fans(points: Sequence[Point | None]) -> list[list[Point]]:
    """Areas to fill: the whole polygon, or with gaps one fan from the centre per run of
    neighbouring values (a missing value removes the two wedges beside its axis)."""
    if all(p is not None for p in points):
        return [[p for p in points if p is not None]]
    n = len(points)
    start = next(i for i, p in enumerate(points) if p is None)
    fans: list[list[Point]] = []
    run: list[Point] = []
    for step in range(1, n + 1):
        point = points[(start + step) % n]
        if point is None:
            if len(run) >= 2:
                fans.append([(0.0, 0.0), *run])
            run = []
        else:
            run.append(point)
    return fans


def _annulus(angles: Sequence[float], inner: float, outer: float) -> Path:
    outside = _ring(angles, outer)
    inside = _ring(angles, inner)[::-1]  # opposite winding leaves the hole open
    vertices = [*outside, outside[0], *inside, inside[0]]
    codes = [Path.MOVETO, *[Path.LINETO] * len(outside), Path.MOVETO]
    codes += [Path.LINETO] * len(inside)
    return Path(vertices, codes)


def _draw_grid(ax: Axes, angles: Sequence[float], scale: tuple[float, float]) -> None:
    """Spokes, one polygon per whole scale step, and the step values between the first two
    spokes (where no marker sits), on a white halo; the centre is the scale minimum."""
    low, high = scale
    font = cjk_font(SMALL_SIZE)
    for angle in angles:
        ax.plot(*zip((0.0, 0.0), _point(angle, 1.0), strict=True), color=GRID_COLOUR, lw=0.8)
    unit = 1.0 if high - low <= 10 else (high - low) / 5
    values = [low + k * unit for k in range(1, math.ceil((high - low) / unit - 1e-9))]
    between = angles[1] / 2
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    # No value at the centre (the minimum): a label there would hide values at the minimum.
    for value in [*values, high]:
        radius = (value - low) / (high - low)
        ring = _ring(angles, radius)
        ax.add_patch(Polygon(ring, closed=True, fill=False, ec=GRID_COLOUR, lw=0.8))
        x, y = _point(between, radius * math.cos(between))
        ax.text(
            x,
            y,
            f"{value:g}",
            fontproperties=font,
            color=MUTED_COLOUR,
            ha="center",
            va="center",
            zorder=5,
            path_effects=halo,
        )


def _draw_bands(
    ax: Axes,
    angles: Sequence[float],
    scale: tuple[float, float],
    thresholds: tuple[float | None, float | None],
    band_labels: tuple[str, str] | None,
) -> list[Patch]:
    low, high = scale
    below, above = thresholds
    handles: list[Patch] = []
    if below is not None:
        radius = (below - low) / (high - low)
        ax.add_patch(Polygon(_ring(angles, radius), closed=True, fc=BARRIER_COLOUR, alpha=0.1))
        ax.add_patch(
            Polygon(
                _ring(angles, radius),
                closed=True,
                fill=False,
                ec=BARRIER_COLOUR,
                lw=1.0,
                ls="--",
                alpha=0.7,
            )
        )
        label = band_labels[0] if band_labels else f"< {below:g}"
        handles.append(Patch(fc=BARRIER_COLOUR, alpha=0.25, label=label))
    if above is not None:
        radius = (above - low) / (high - low)
        ax.add_patch(
            PathPatch(_annulus(angles, radius, 1.0), fc=CATALYST_COLOUR, ec="none", alpha=0.1)
        )
        ax.add_patch(
            Polygon(
                _ring(angles, radius),
                closed=True,
                fill=False,
                ec=CATALYST_COLOUR,
                lw=1.0,
                ls="--",
                alpha=0.7,
            )
        )
        label = band_labels[1] if band_labels else f"≥ {above:g}"
        handles.append(Patch(fc=CATALYST_COLOUR, alpha=0.25, label=label))
    return handles


def _draw_labels(ax: Axes, angles: Sequence[float], labels: Sequence[str], empty: set[int]) -> None:
    font = cjk_font(LABEL_SIZE)
    for index, (angle, label) in enumerate(zip(angles, labels, strict=True)):
        x, y = _point(angle, LABEL_GAP)
        sin, cos = math.sin(angle), math.cos(angle)
        ha = "center" if abs(sin) < 0.3 else ("left" if sin > 0 else "right")
        va = "center" if abs(cos) < 0.3 else ("bottom" if cos > 0 else "top")
        ax.text(
            x,
            y,
            wrap_label(label, LABEL_COLUMNS),
            fontproperties=font,
            ha=ha,
            va=va,
            multialignment="center",
            linespacing=1.15,
            color=MUTED_COLOUR if index in empty else TEXT_COLOUR,
        )


def _draw_series(
    ax: Axes,
    angles: Sequence[float],
    index: int,
    values: Sequence[float | None],
    low: float,
    high: float,
) -> None:
    colour = SERIES_COLOURS[index]
    points = [
        None if v is None else _point(angle, (v - low) / (high - low))
        for angle, v in zip(angles, values, strict=True)
    ]
    for fan in _fans(points):
        ax.add_patch(Polygon(fan, closed=True, fc=colour, ec="none", alpha=0.14, zorder=2))
    closed = [*points, points[0]]
    xs = [math.nan if p is None else p[0] for p in closed]
    ys = [math.nan if p is None else p[1] for p in closed]
    ax.plot(xs, ys, color=colour, lw=2.2, ls=SERIES_LINESTYLES[index], zorder=3)
    ax.plot(
        xs[:-1],
        ys[:-1],
        ls="none",
        marker=SERIES_MARKERS[index],
        ms=6.5,
        color=colour,
        mec="white",
        mew=0.8,
        zorder=4,
    )


def _series_handles(series: Sequence[tuple[str, Sequence[float | None]]]) -> list[Line2D]:
    """Legend entries; a series with gaps says how many values it has: "第30天 (15/16)"."""
    handles = []
    for index, (name, values) in enumerate(series):
        present = sum(v is not None for v in values)
        label = name if present == len(values) else f"{name} ({present}/{len(values)})"
        handles.append(
            Line2D(
                [],
                [],
                color=SERIES_COLOURS[index],
                lw=2.2,
                ls=SERIES_LINESTYLES[index],
                marker=SERIES_MARKERS[index],
                label=label,
            )
        )
    return handles


def radar_png(
    labels: Sequence[str],
    series: Series,
    *,
    title: str,
    scale: tuple[float, float] = (1, 5),
    threshold_low: float | None = None,
    threshold_high: float | None = None,
    band_labels: tuple[str, str] | None = None,
    note: str | None = None,
) -> bytes:
    """PNG bytes (1080 px wide) of a radar chart of `labels` (3..16 axes, clockwise from the
    top) with one outline per series (1..3, e.g. ("第30天", scores), ("结课时", scores)).

    `threshold_low` shades the barrier zone below it, `threshold_high` the catalyst zone at
    or above it; their legend entries read "< 2.5" and "≥ 4" unless `band_labels` names
    them. `note` is printed under the chart (e.g. what a gap means). ValueError for bad input.
    """
    low, high = float(scale[0]), float(scale[1])
    if not low < high:
        raise ValueError(f"scale must go up, got {scale}")
    if not MIN_AXES <= len(labels) <= MAX_AXES:
        raise ValueError(f"a radar chart has {MIN_AXES} to {MAX_AXES} axes, got {len(labels)}")
    checked = check_series(series, len(labels), "axes")
    for name, values in checked:
        if any(v is not None and not low <= v <= high for v in values):
            raise ValueError(f"series {name!r} has a value outside the scale {low:g}..{high:g}")
    for threshold in (threshold_low, threshold_high):
        if threshold is not None and not low < threshold < high:
            raise ValueError(f"threshold {threshold} is not inside the scale {low:g}..{high:g}")

    angles = [2 * math.pi * i / len(labels) for i in range(len(labels))]
    entries = len(checked) + (threshold_low is not None) + (threshold_high is not None)
    title_px, legend_px, note_px = title_height(title), legend_height(entries), note_height(note)
    height = title_px + legend_px + RADAR_HEIGHT_PX + note_px + 20
    figure = new_figure(height)
    ax = figure.add_axes((0.0, (note_px + 20) / height, 1.0, RADAR_HEIGHT_PX / height))
    ax.set_axis_off()
    ax.set_xlim(-WIDTH_PX / 2 / RADIUS_PX, WIDTH_PX / 2 / RADIUS_PX)
    ax.set_ylim(-RADAR_HEIGHT_PX / 2 / RADIUS_PX, RADAR_HEIGHT_PX / 2 / RADIUS_PX)

    band_handles = _draw_bands(
        ax, angles, (low, high), (threshold_low, threshold_high), band_labels
    )
    _draw_grid(ax, angles, (low, high))
    for index, (_, values) in enumerate(checked):
        _draw_series(ax, angles, index, values, low, high)
    empty = {i for i in range(len(labels)) if all(values[i] is None for _, values in checked)}
    _draw_labels(ax, angles, labels, empty)

    draw_title(figure, title)
    draw_legend(figure, [*_series_handles(checked), *band_handles], title_px)
    draw_note(figure, note)
    return render_png(figure)
