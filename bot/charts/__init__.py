"""Charts as PNG bytes, for Telegram photos: LTSI radar diagnoses and organiser reports.

- `bot.charts.radar.radar_png`: per-factor scores of one or more waves on a spider chart;
- `bot.charts.bars.grouped_bars_png`: factor means per wave, horizontal grouped bars;
- `bot.charts.bars.completion_png`: how many answered each wave, "12/30 (40%)";
- `bot.charts.fonts`: the CJK font every text is drawn with (MissingFontError without one).

The charts use matplotlib's object API (Figure + FigureCanvasAgg), never pyplot: no GUI
backend, no global figure registry, no rcParams changes, so rendering is safe in worker
threads. It is CPU work of about 0.1-0.2 s a chart: call it from the event loop through
`asyncio.to_thread`. Texts (labels, titles, series names) come from the caller, i.e. from
`content/`; the charts add only numbers.

This module holds what the chart modules share: size, colours, figure set-up, PNG export,
label wrapping and input checks.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Sequence

from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.charts.fonts import cjk_font

DPI = 150
WIDTH_PX = 1080  # about the width of a phone screen in device pixels
MAX_SERIES = 3

# Series colours stay clear of the red and green of the barrier and catalyst bands; each
# series also gets its own marker and line style, which tell them apart for colour-blind
# readers and in a grey-scale screenshot.
SERIES_COLOURS = ("#0072B2", "#7B3294", "#4D4D4D")
SERIES_MARKERS = ("o", "s", "^")
SERIES_LINESTYLES = ("-", "--", ":")
TEXT_COLOUR = "#222222"
MUTED_COLOUR = "#666666"
GRID_COLOUR = "#C8C8C8"
TRACK_COLOUR = "#E6E6E6"
BARRIER_COLOUR = "#D55E00"
CATALYST_COLOUR = "#009E73"

# Font sizes in points; at 150 dpi one point is about two device pixels.
TITLE_SIZE = 17
LABEL_SIZE = 13
SMALL_SIZE = 11

TITLE_COLUMNS = 56  # 28 CJK characters a line at TITLE_SIZE
NOTE_COLUMNS = 80  # 40 CJK characters a line at SMALL_SIZE
LINE_SPACING = 1.35
LEGEND_COLUMNS = 4  # entries a legend row

Values = Sequence[float | None]
Series = Sequence[tuple[str, Values]]

# Punctuation that must not start a line, and that must not end one.
_NO_LINE_START = set("，。、；：！？）》」』】,.;:!?)%")
_NO_LINE_END = set("（《「『【(")


def new_figure(height_px: int, width_px: int = WIDTH_PX) -> Figure:
    """A white figure of exactly width_px × height_px pixels, on the Agg canvas."""
    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def render_png(figure: Figure) -> bytes:
    """The figure as PNG bytes (same input, same bytes); the figure is cleared afterwards."""
    buffer = io.BytesIO()
    try:
        # No "Software" entry: the bytes do not change with the matplotlib version string.
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        figure.clear()
    return buffer.getvalue()


def _height_px(figure: Figure) -> float:
    return float(figure.get_figheight()) * DPI


def _lines(text: str) -> int:
    return text.count("\n") + 1


def title_height(title: str) -> int:
    """Pixels the title takes at the top of a figure."""
    return 40 + 48 * _lines(wrap_label(title, TITLE_COLUMNS, max_lines=2))


def draw_title(figure: Figure, title: str) -> None:
    figure.text(
        0.5,
        1 - 30 / _height_px(figure),
        wrap_label(title, TITLE_COLUMNS, max_lines=2),
        fontproperties=cjk_font(TITLE_SIZE),
        ha="center",
        va="top",
        color=TEXT_COLOUR,
        multialignment="center",
        linespacing=LINE_SPACING,
    )


def note_height(note: str | None) -> int:
    """Pixels a note takes at the bottom of a figure (none without a note)."""
    return 20 + 34 * _lines(wrap_label(note, NOTE_COLUMNS, max_lines=3)) if note else 0


def draw_note(figure: Figure, note: str | None) -> None:
    if note:
        figure.text(
            0.5,
            (note_height(note) - 10) / _height_px(figure),
            wrap_label(note, NOTE_COLUMNS, max_lines=3),
            fontproperties=cjk_font(SMALL_SIZE),
            ha="center",
            va="top",
            color=MUTED_COLOUR,
            multialignment="center",
            linespacing=LINE_SPACING,
        )


def legend_height(entries: int) -> int:
    return 30 + 40 * math.ceil(entries / LEGEND_COLUMNS)


def draw_legend(figure: Figure, handles: Sequence[Artist], top_px: int) -> None:
    """A frameless legend, centred, in the band `legend_height` pixels tall from `top_px`."""
    centre = top_px + legend_height(len(handles)) / 2
    figure.legend(
        handles=list(handles),
        loc="center",
        bbox_to_anchor=(0.5, 1 - centre / _height_px(figure)),
        ncol=min(len(handles), LEGEND_COLUMNS),
        frameon=False,
        prop=cjk_font(SMALL_SIZE),
        handlelength=2.4,
        columnspacing=1.6,
    )


def check_series(series: Series, length: int, what: str) -> list[tuple[str, list[float | None]]]:
    """ValueError unless there are 1..MAX_SERIES series of `length` finite values (or None)."""
    if not 1 <= len(series) <= MAX_SERIES:
        raise ValueError(f"a chart shows 1 to {MAX_SERIES} series, got {len(series)}")
    checked = []
    for name, values in series:
        if len(values) != length:
            raise ValueError(f"series {name!r} has {len(values)} values for {length} {what}")
        for value in values:
            if value is not None and not math.isfinite(value):
                raise ValueError(f"series {name!r} has a value that is not finite: {value!r}")
        checked.append((name, [None if v is None else float(v) for v in values]))
    return checked


def _columns(text: str) -> int:
    """Display width: a CJK character takes two columns, a Latin one one."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _tokens(text: str) -> list[str]:
    """Unbreakable pieces: a Latin word, a CJK character, a space; punctuation sticks."""
    tokens: list[str] = []
    for char in " ".join(text.split()):
        glue_previous = tokens and (
            char in _NO_LINE_START
            or tokens[-1][-1] in _NO_LINE_END
            or (_columns(char) == 1 and char != " " and _is_word(tokens[-1]))
        )
        if glue_previous:
            tokens[-1] += char
        else:
            tokens.append(char)
    return tokens


def _is_word(token: str) -> bool:
    return token != " " and _columns(token[-1]) == 1


def _fill(tokens: list[str], width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for token in tokens:
        if line and _columns(line + token) > width:
            lines.append(line.rstrip())
            line = ""
        if not (line == "" and token == " "):
            line += token
    if line.strip():
        lines.append(line.rstrip())
    return lines


def wrap_label(text: str, columns: int, max_lines: int = 3) -> str:
    """`text` broken into lines of about equal width, none wider than `columns` (a CJK
    character counts two) unless one word is; beyond `max_lines` it ends with "…"."""
    tokens = _tokens(text)
    lines = _fill(tokens, columns)
    if len(lines) > max_lines:
        kept = lines[:max_lines]
        kept[-1] = kept[-1][: max(1, len(kept[-1]) - 1)] + "…"
        return "\n".join(kept)
    # Balance: the narrowest width that still needs no more lines.
    total = _columns("".join(tokens))
    for width in range(max(1, math.ceil(total / max(1, len(lines)))), columns):
        balanced = _fill(tokens, width)
        if len(balanced) <= len(lines):
            return "\n".join(balanced)
    return "\n".join(lines)
