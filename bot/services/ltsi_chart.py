"""The radar chart of one self-check's diagnosis, with the previous wave beside it: the one
drawing the diagnosis message (handlers/ltsi.py) and the portfolio document both send."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.charts.radar import radar_png
from bot.content import Translator
from bot.content.ltsi import LtsiBank

if TYPE_CHECKING:
    from bot.services.ltsi import Diagnosis


async def diagnosis_radar_png(d: Diagnosis, bank: LtsiBank, t: Translator) -> bytes:
    """The wave's per-factor scores (and the previous wave's, if any) as a PNG, drawn off the
    event loop (~0.1 s of CPU). Raises bot.charts.fonts.MissingFontError without a CJK font."""
    low, high = d.thresholds
    wave = t.plain(f"ltsi.wave.{d.wave}")
    series = [(t.plain(f"ltsi.wave_short.{d.wave}"), [d.factors[f.id] for f in bank.factors])]
    if d.previous_wave and d.previous_factors is not None:
        series.append(
            (
                t.plain(f"ltsi.wave_short.{d.previous_wave}"),
                [d.previous_factors.get(f.id) for f in bank.factors],
            )
        )
    return await asyncio.to_thread(
        radar_png,
        [f.name(t.locale) for f in bank.factors],
        series,
        title=t.plain("ltsi.chart_title", wave=wave),
        threshold_low=low,
        threshold_high=high,
        band_labels=(
            t.plain("ltsi.chart_band_barrier", low=f"{low:g}"),
            t.plain("ltsi.chart_band_catalyst", high=f"{high:g}"),
        ),
        note=t.plain("ltsi.chart_note"),
    )
