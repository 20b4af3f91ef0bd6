"""/report: an organiser's view of a cohort's self-checks — completion, factor means per
wave as charts, the most frequent barriers, day 30 → day 60 — and the answers as CSV; and,
once trainees have finished some, the scenario role-plays: per scenario the plays, the
trainees and the mean 0–100 score per dimension, as text and as charts."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.charts import MAX_SERIES, wrap_label
from bot.charts.bars import completion_png, grouped_bars_png
from bot.charts.fonts import MissingFontError
from bot.content import Translator
from bot.content.ltsi import LtsiBank
from bot.domain.ltsi import split_messages
from bot.domain.notices import TEXT_LIMIT
from bot.domain.scenarios import Dimension
from bot.services.ltsi import CohortReport, LtsiService
from bot.services.scenarios import CohortScenarioStats, ScenarioService
from handlers.callbacks import ReportCB

log = logging.getLogger(__name__)

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")

MESSAGE_LIMIT = TEXT_LIMIT  # Telegram's, for one text message
TOP_BARRIERS = 5
LEGEND_COLUMNS = 20  # a scenario's title in a chart's legend: ten CJK characters


@router.message(Command("report"))
async def report(
    message: Message, bot: Bot, ltsi: LtsiService, scenarios: ScenarioService, t: Translator
) -> None:
    assert message.from_user is not None
    cohorts = await ltsi.organised(message.from_user.id)
    if not cohorts:
        await message.answer(t("report.not_organiser"))
        return
    if len(cohorts) == 1:
        await send_report(
            bot, message.chat.id, message.from_user.id, cohorts[0].id, ltsi, scenarios, t
        )
        return
    kb = InlineKeyboardBuilder()
    for cohort in cohorts:
        kb.button(text=cohort.name, callback_data=ReportCB(action="show", cohort=cohort.id))
    kb.adjust(1)
    await message.answer(t("report.choose_cohort"), reply_markup=kb.as_markup())


@router.callback_query(ReportCB.filter())
async def pressed(
    query: CallbackQuery,
    callback_data: ReportCB,
    bot: Bot,
    ltsi: LtsiService,
    scenarios: ScenarioService,
    t: Translator,
) -> None:
    user_id, cohort_id = query.from_user.id, callback_data.cohort
    if callback_data.action == "show":
        cohorts = await ltsi.organised(user_id) or []
        if all(c.id != cohort_id for c in cohorts):
            await query.answer(t.plain("report.not_organiser"), show_alert=True)
            return
        await query.answer()
        await send_report(bot, user_id, user_id, cohort_id, ltsi, scenarios, t)
        return
    if callback_data.action not in ("csv", "csvn"):
        await query.answer(t.plain("problem.stale_button"))
        return
    export = await ltsi.export_csv(user_id, cohort_id, with_names=callback_data.action == "csvn")
    if export is None:
        await query.answer(t.plain("report.not_organiser"), show_alert=True)
        return
    await query.answer()
    names = {c.id: c.name for c in await ltsi.organised(user_id) or []}
    if export.rows == 0:
        await bot.send_message(user_id, t("report.csv_empty"))
        return
    await bot.send_document(
        user_id,
        BufferedInputFile(export.data, filename=export.filename),
        caption=t(
            "report.csv_caption",
            cohort=names.get(cohort_id, ""),
            rows=export.rows,
            names=export.with_names,
        ),
    )


def report_parts(r: CohortReport, bank: LtsiBank, t: Translator) -> list[str]:
    low, _ = r.thresholds
    parts = [t("report.header", cohort=r.cohort.name, ends_on=t.date(r.cohort.ends_on))]
    for w in r.waves:
        parts.append(
            t(
                "report.wave_line",
                wave=t.plain(f"ltsi.wave.{w.wave}"),
                status=t.plain(f"report.status_{w.status}"),
                opens=t.moment(w.opens_at, r.cohort.timezone),
                done=w.done,
                invited=w.invited,
                percent=w.done * 100 // w.invited if w.invited else 0,
                started=w.started,
            )
        )
    if not r.group_means:
        parts.append(t("report.no_results"))
        return parts
    lines = [t("report.groups_header")]
    for g in bank.groups:
        values = [
            {"wave": t.plain(f"ltsi.wave_short.{wave}"), "score": f"{v:.2f}"}
            for wave, means in r.group_means.items()
            if (v := means.get(g.id)) is not None
        ]
        lines.append(t("report.group_line", name=g.name(t.locale), values=values))
    parts.append("\n".join(lines))

    latest = list(r.barrier_counts)[-1]
    counts = r.barrier_counts[latest]
    done = next(w.done for w in r.waves if w.wave == latest)
    frequent = sorted(
        ((n, f) for f, n in counts.items() if n > 0),
        key=lambda pair: -pair[0],
    )[:TOP_BARRIERS]
    if frequent:
        lines = [
            t(
                "report.barriers_header",
                wave=t.plain(f"ltsi.wave.{latest}"),
                low=f"{low:g}",
            )
        ]
        for n, factor in frequent:
            lines.append(
                t(
                    "report.barrier_line",
                    name=bank.factor(factor).name(t.locale),
                    count=n,
                    percent=n * 100 // done if done else 0,
                )
            )
        parts.append("\n".join(lines))
    else:
        parts.append(t("report.no_barriers", low=f"{low:g}"))

    if r.paired:
        lines = [t("report.change_header", n=r.paired)]
        for g in bank.groups:
            delta = r.change.get(g.id)
            shown = "—" if delta is None else f"{delta:+.2f}"
            lines.append(t("report.change_line", name=g.name(t.locale), delta=shown))
        parts.append("\n".join(lines))
    else:
        parts.append(t("report.change_none"))
    return parts


def _mean(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def scenario_parts(
    stats: list[CohortScenarioStats], dimensions: tuple[Dimension, ...], t: Translator
) -> list[str]:
    """The role-play section: one entry a scenario (none without finished plays)."""
    parts = []
    for s in stats:
        parts.append(
            t(
                "report.scenario_line",
                title=s.scenario.title(t.locale),
                plays=s.plays,
                trainees=s.trainees,
                dimensions=[
                    {"name": d.name(t.locale), "score": _mean(s.means.get(d.id))}
                    for d in dimensions
                ],
                total=_mean(s.total),
            )
        )
    if parts:
        parts[0] = t("report.scenarios_header") + "\n" + parts[0]
    return parts


def scenario_charts(
    stats: list[CohortScenarioStats],
    dimensions: tuple[Dimension, ...],
    cohort: str,
    t: Translator,
) -> list[bytes]:
    """Mean 0–100 per dimension (and overall), one series a scenario: a chart for every
    MAX_SERIES scenarios. CPU work: run it in a thread."""
    categories = [d.name(t.locale) for d in dimensions] + [t.plain("report.scenario_overall")]
    groups = [stats[i : i + MAX_SERIES] for i in range(0, len(stats), MAX_SERIES)]
    charts = []
    for number, group in enumerate(groups, start=1):
        series = [
            (
                wrap_label(s.scenario.title(t.locale), LEGEND_COLUMNS, max_lines=1),
                [s.means.get(d.id) for d in dimensions] + [s.total],
            )
            for s in group
        ]
        untested = any(v is None for _, values in series for v in values)
        charts.append(
            grouped_bars_png(
                categories,
                series,
                title=t.plain(
                    "report.chart_scenarios_title", cohort=cohort, part=number, parts=len(groups)
                ),
                ylabel=t.plain("report.chart_scenarios_axis"),
                ylim=(0, 100),
                note=t.plain("report.chart_scenarios_note") if untested else None,
            )
        )
    return charts


async def send_report(
    bot: Bot,
    chat_id: int,
    user_id: int,
    cohort_id: int,
    ltsi: LtsiService,
    scenarios: ScenarioService,
    t: Translator,
) -> None:
    progress = await bot.send_message(chat_id, t("report.working"))
    r = await ltsi.report(user_id, cohort_id)  # None unless user_id organises the cohort
    if r is None:
        await progress.edit_text(t("report.not_organiser"))
        return
    bank = ltsi.bank
    plays = await scenarios.cohort_averages(r.cohort.id)
    dimensions = scenarios.dimensions
    try:
        completion = await asyncio.to_thread(
            completion_png,
            [t.plain(f"ltsi.wave.{w.wave}") for w in r.waves],
            [w.done for w in r.waves],
            [max(w.invited, w.done) for w in r.waves],
            title=t.plain("report.chart_completion_title", cohort=r.cohort.name),
        )
        means = None
        if r.factor_means:
            means = await asyncio.to_thread(
                grouped_bars_png,
                [f.name(t.locale) for f in bank.factors],
                [
                    (
                        t.plain(f"ltsi.wave_short.{wave}"),
                        [values.get(f.id) for f in bank.factors],
                    )
                    for wave, values in r.factor_means.items()
                ],
                title=t.plain("report.chart_means_title", cohort=r.cohort.name),
                ylabel=t.plain("report.chart_means_axis"),
                ylim=(1, 5),
            )
        roleplays = (
            await asyncio.to_thread(scenario_charts, plays, dimensions, r.cohort.name, t)
            if plays
            else []
        )
    except MissingFontError:
        log.error("no CJK font: the report goes out without charts")
    else:
        await bot.send_photo(chat_id, BufferedInputFile(completion, filename="completion.png"))
        if means is not None:
            await bot.send_photo(chat_id, BufferedInputFile(means, filename="factors.png"))
        for number, chart in enumerate(roleplays, start=1):
            await bot.send_photo(
                chat_id, BufferedInputFile(chart, filename=f"roleplays-{number}.png")
            )

    kb = InlineKeyboardBuilder()
    kb.button(
        text=t.plain("report.csv_anonymous"),
        callback_data=ReportCB(action="csv", cohort=r.cohort.id),
    )
    kb.button(
        text=t.plain("report.csv_names"), callback_data=ReportCB(action="csvn", cohort=r.cohort.id)
    )
    kb.adjust(1)
    parts = report_parts(r, bank, t) + scenario_parts(plays, dimensions, t)
    texts = split_messages(parts, MESSAGE_LIMIT)
    for text in texts[:-1]:
        await bot.send_message(chat_id, text)
    await bot.send_message(chat_id, texts[-1], reply_markup=kb.as_markup())
    await progress.delete()
