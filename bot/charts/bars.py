"""Bar charts for organiser reports: factor means per wave, and how many answered each wave.

Bars run horizontally, so that Chinese category names stay horizontal and readable on a
phone; the figure grows in height with the number of categories.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from bot.charts import (
    GRID_COLOUR,
    LABEL_SIZE,
    MUTED_COLOUR,
    SERIES_COLOURS,
    SMALL_SIZE,
    TEXT_COLOUR,
    TRACK_COLOUR,
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

MAX_CATEGORIES = 24
LABEL_COLUMNS = 16  # eight CJK characters a line
LEFT_PX = 280  # category names
RIGHT_PX = 70  # value labels past the longest bar
BAR_PX = 24
GAP_PX = 22
MISSING = "—"  # full width in CJK fonts, hard to miss


def _style_axes(ax: Axes) -> None:
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color(GRID_COLOUR)
    ax.tick_params(axis="y", length=0, pad=8)
    ax.tick_params(axis="x", colors=MUTED_COLOUR, length=0, pad=6)
    ax.grid(axis="x", color=GRID_COLOUR, lw=0.7)
    ax.set_axisbelow(True)


def _number(value: float, whole: bool) -> str:
    return f"{value:.0f}" if whole else f"{value:.1f}"


def _value_range(
    series: Sequence[tuple[str, Sequence[float | None]]], ylim: tuple[float, float] | None
) -> tuple[float, float]:
    if ylim is not None:
        if not ylim[0] < ylim[1]:
            raise ValueError(f"ylim must go up, got {ylim}")
        return float(ylim[0]), float(ylim[1])
    values = [v for _, vs in series for v in vs if v is not None]
    low = min(0.0, *values) if values else 0.0
    high = max(values, default=0.0)
    return low, (high * 1.12 if high > 0 else 1.0)


def _draw_bars(
    ax: Axes, series: Sequence[tuple[str, Sequence[float | None]]], low: float, *, whole: bool
) -> None:
    """One bar per value with the value after its end; a None value gets a "—" instead."""
    font = cjk_font(SMALL_SIZE)
    bar = BAR_PX / (len(series) * BAR_PX + GAP_PX)  # in row units
    for index, (_, values) in enumerate(series):
        colour = SERIES_COLOURS[index]
        for row, value in enumerate(values):
            centre = row + (index + 0.5 - len(series) / 2) * bar
            if value is not None:
                ax.barh(centre, value - low, height=bar * 0.9, left=low, color=colour)
            text = MISSING if value is None else _number(value, whole)
            ax.text(
                low if value is None else value,
                centre,
                f" {text}",
                fontproperties=font,
                color=colour if value is None else TEXT_COLOUR,
                ha="left",
                va="center",
                clip_on=False,
            )


def _value_axis(ax: Axes, low: float, high: float, label: str, *, whole: bool) -> None:
    font = cjk_font(SMALL_SIZE)
    ax.set_xlim(low, high)
    locator = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10], integer=whole)
    ticks = [t for t in locator.tick_values(low, high) if low <= t <= high]
    ticks_whole = all(t == int(t) for t in ticks)
    ax.set_xticks(ticks, [_number(t, ticks_whole) for t in ticks], fontproperties=font)
    ax.set_xlabel(label, fontproperties=font, color=MUTED_COLOUR, labelpad=8)


def grouped_bars_png(
    categories: Sequence[str],
    series: Series,
    *,
    title: str,
    ylabel: str,
    ylim: tuple[float, float] | None = None,
    note: str | None = None,
) -> bytes:
    """PNG bytes (1080 px wide) of horizontal grouped bars: one row per category (top to
    bottom), one bar per series (1..3, e.g. waves), each labelled with its value.

    `ylabel` names the value axis (drawn horizontally, under the bars); `ylim` fixes its
    range, e.g. (1, 5) for LTSI means, and bars then start at its lower end. A None value
    has no bar, only a "—" in the series colour; `note`, printed at the bottom, can say
    what that means. ValueError for bad input.
    """
    if not 1 <= len(categories) <= MAX_CATEGORIES:
        raise ValueError(f"1 to {MAX_CATEGORIES} categories, got {len(categories)}")
    checked = check_series(series, len(categories), "categories")
    low, high = _value_range(checked, ylim)

    plot_px = len(categories) * (len(checked) * BAR_PX + GAP_PX)
    title_px, legend_px = title_height(title), legend_height(len(checked))
    axis_px, note_px = 110, note_height(note)
    height = title_px + legend_px + plot_px + axis_px + note_px
    figure = new_figure(height)
    ax = figure.add_axes(
        (
            LEFT_PX / WIDTH_PX,
            (axis_px + note_px) / height,
            1 - (LEFT_PX + RIGHT_PX) / WIDTH_PX,
            plot_px / height,
        )
    )
    _style_axes(ax)
    whole = all(v is None or v == int(v) for _, values in checked for v in values)
    _draw_bars(ax, checked, low, whole=whole)
    _value_axis(ax, low, high, ylabel, whole=whole)
    ax.set_ylim(len(categories) - 0.5, -0.5)  # first category at the top
    ax.set_yticks(
        range(len(categories)),
        [wrap_label(name, LABEL_COLUMNS, max_lines=2) for name in categories],
        fontproperties=cjk_font(LABEL_SIZE),
        color=TEXT_COLOUR,
        linespacing=1.1,
    )
    handles = [
        Patch(color=SERIES_COLOURS[index], label=name) for index, (name, _) in enumerate(checked)
    ]
    draw_title(figure, title)
    draw_legend(figure, handles, title_px)
    draw_note(figure, note)
    return render_png(figure)


def _progress_text(done: int, total: int) -> str:
    # Rounded down, so that 299 of 300 never reads as 100%.
    percent = f"{done * 100 // total}%" if total else MISSING
    return f"{done}/{total} ({percent})"


def completion_png(
    labels: Sequence[str], done: Sequence[int], total: Sequence[int], *, title: str
) -> bytes:
    """PNG bytes (1080 px wide) of one progress bar per row (e.g. per wave), labelled
    "12/30 (40%)": `done[i]` of `total[i]` answered. ValueError for bad input."""
    if not 1 <= len(labels) <= MAX_CATEGORIES:
        raise ValueError(f"1 to {MAX_CATEGORIES} rows, got {len(labels)}")
    if not len(labels) == len(done) == len(total):
        raise ValueError(f"{len(labels)} labels, {len(done)} done and {len(total)} totals")
    for label, got, out_of in zip(labels, done, total, strict=True):
        if isinstance(got, bool) or isinstance(out_of, bool) or not 0 <= got <= out_of:
            raise ValueError(f"{label!r}: need 0 <= done <= total, got {got}/{out_of}")

    row_px = 74
    plot_px = len(labels) * row_px
    title_px, bottom_px, right_px = title_height(title), 30, 210
    height = title_px + plot_px + bottom_px
    figure = new_figure(height)
    draw_title(figure, title)
    ax = figure.add_axes(
        (
            LEFT_PX / WIDTH_PX,
            bottom_px / height,
            1 - (LEFT_PX + right_px) / WIDTH_PX,
            plot_px / height,
        )
    )
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(len(labels) - 0.5, -0.5)

    label_font, value_font = cjk_font(LABEL_SIZE), cjk_font(SMALL_SIZE)
    for row, (label, got, out_of) in enumerate(zip(labels, done, total, strict=True)):
        ax.barh(row, 1.0, height=0.5, color=TRACK_COLOUR)
        share = got / out_of if out_of else 0.0
        if share > 0:
            ax.barh(row, share, height=0.5, color=SERIES_COLOURS[0])
        ax.text(
            -0.03,
            row,
            wrap_label(label, LABEL_COLUMNS, max_lines=2),
            fontproperties=label_font,
            color=TEXT_COLOUR,
            ha="right",
            va="center",
            linespacing=1.1,
            clip_on=False,
        )
        ax.text(
            1.03,
            row,
            _progress_text(got, out_of),
            fontproperties=value_font,
            color=TEXT_COLOUR if out_of else MUTED_COLOUR,
            ha="left",
            va="center",
            clip_on=False,
        )
    return render_png(figure)
