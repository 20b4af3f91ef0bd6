"""/portfolio: the growth portfolio (成长档案), shown and exported.

The summary goes to the chat (split between entries at Telegram's limit); two buttons export
the whole record: an HTML document (bot.services.portfolio_document) and the JSON copy that
/mydata sends too.
"""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.content import Translator
from bot.content.ltsi import LtsiBank
from bot.domain.ltsi import split_messages
from bot.domain.notices import TEXT_LIMIT, excerpt
from bot.services.portfolio import ExportRefusal, Portfolio, PortfolioService, ScenarioEntry
from bot.services.privacy import PrivacyService
from bot.services.users import UserContext
from handlers.callbacks import PortfolioCB

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")

HTML, JSON = "h", "j"
LATEST_SHOWN = 3  # reflection dates in the summary
EXCERPT = 60  # characters of a role-play answer or comment in the summary


@router.message(Command("portfolio"))
async def show(
    message: Message, portfolio: PortfolioService, ctx: UserContext, t: Translator
) -> None:
    found = await portfolio.portfolio(ctx.telegram_id)
    if found is None:
        await message.answer(t("portfolio.none"))
        return
    if not found.enrolments:
        await message.answer(t("portfolio.not_trainee"))
        return
    texts = split_messages(summary_parts(found, portfolio.bank, t), TEXT_LIMIT)
    for text in texts[:-1]:
        await message.answer(text)
    await message.answer(texts[-1], reply_markup=export_buttons(ctx.telegram_id, t))


def export_buttons(telegram_id: int, t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(
        text=t.plain("portfolio.html_button"), callback_data=PortfolioCB(a=HTML, u=telegram_id)
    )
    kb.button(
        text=t.plain("portfolio.json_button"), callback_data=PortfolioCB(a=JSON, u=telegram_id)
    )
    kb.adjust(1)
    return kb.as_markup()


def summary_parts(p: Portfolio, bank: LtsiBank, t: Translator) -> list[str]:
    """The summary as entries that may go to different messages but are never cut."""
    parts = [t("portfolio.header", name=p.name or t.plain("portfolio.doc.no_name"))]
    for e in p.enrolments:
        parts.append(
            t(
                "portfolio.enrolment",
                cohort=e.cohort,
                course=e.course,
                since=t.date(e.since.astimezone(_zone(e.timezone)).date()),
            )
        )
    if p.waves:
        lines = [t("portfolio.ltsi_header")]
        for d in p.waves:
            groups = [
                {"name": g.name(t.locale), "score": _score(d.groups.get(g.id))} for g in bank.groups
            ]
            lines.append(
                t(
                    "portfolio.ltsi_wave",
                    wave=t.plain(f"ltsi.wave.{d.wave}"),
                    date=t.date(d.completed_at.astimezone(_zone(d.cohort.timezone)).date()),
                    groups=groups,
                )
            )
        parts.append("\n".join(lines))  # at most three waves: one entry
    else:
        parts.append(t("portfolio.ltsi_none"))
    for plan in p.plans:
        area = plan.area_other if plan.area == "other" and plan.area_other else t.area(plan.area)
        milestones = [
            {
                "mark": t.plain(f"portfolio.milestone_mark.{m.status}"),
                "title": m.title,
                "when": t.date(m.due_on),
            }
            for m in plan.milestones
        ]
        parts.append(
            t(
                "portfolio.plan",
                cohort=plan.cohort,
                area=area,
                goal=plan.goal or "—",
                milestones=milestones,
            )
        )
    if not p.plans:
        parts.append(t("portfolio.plan_none"))
    if p.reflections:
        latest = [
            t.date((r.completed_at or r.created_at).astimezone(_zone(r.timezone)).date())
            for r in reversed(p.reflections[-LATEST_SHOWN:])
        ]
        parts.append(
            t("portfolio.reflections", count=len(p.reflections), latest=t.join(latest))
            + "\n"
            + t("portfolio.comments", count=p.comment_count)
        )
    else:
        parts.append(t("portfolio.reflections_none"))
    if p.cases:
        cases = [{"title": c.title, "area": t.area(c.area)} for c in p.cases]
        parts.append(t("portfolio.cases", count=len(cases), cases=cases))
    if p.plays:
        plays = [play_text(s, t) for s in p.plays]
        plays[0] = t("portfolio.scenarios_header", count=len(p.plays)) + "\n" + plays[0]
        parts.extend(plays)  # one entry a play: a long list splits between plays
    parts.append(t("portfolio.empty") if p.is_empty else t("portfolio.footer"))
    return parts


def play_text(s: ScenarioEntry, t: Translator) -> str:
    """A finished role-play in the summary: scores, and its answers and comments in short."""
    return t(
        "portfolio.scenario_play",
        title=s.title(t.locale),
        role=s.role(t.locale),
        date=t.date(s.finished_at.astimezone(_zone(s.timezone)).date()),
        ending=s.ending(t.locale),
        total="—" if s.total is None else s.total,
        scores=[
            {"name": d.name(t.locale), "score": "—" if d.percent is None else d.percent}
            for d in s.scores
        ],
        answers=[
            {
                "text": excerpt(a.text, EXCERPT),
                "comment": excerpt(a.comment, EXCERPT) if a.comment else None,
                "author": t.plain(
                    "portfolio.doc.comment_author",
                    role=t.plain("portfolio.role.mentor"),
                    name=a.commenter,
                ),
            }
            for a in s.answers
        ],
    )


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@router.callback_query(PortfolioCB.filter())
async def export(
    query: CallbackQuery,
    callback_data: PortfolioCB,
    portfolio: PortfolioService,
    privacy: PrivacyService,
    t: Translator,
) -> None:
    message = query.message
    telegram_id = query.from_user.id
    if callback_data.u != telegram_id or callback_data.a not in (HTML, JSON):
        await query.answer(t.plain("portfolio.toast.not_yours"))
        return
    if not isinstance(message, Message):  # too old for Telegram to show us
        await query.answer(t.plain("problem.stale_button"))
        return
    if callback_data.a == JSON:
        data = await privacy.export(telegram_id)
        if data is None:
            await query.answer(t.plain("portfolio.toast.gone"))
            return
        await query.answer()
        payload = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
        await message.answer_document(
            BufferedInputFile(payload, filename="xueyong-my-data.json"),
            caption=t("portfolio.json_caption"),
        )
        return

    progress: list[Message] = []

    async def started(found: Portfolio) -> None:
        await query.answer()
        progress.append(await message.answer(t("portfolio.progress", charts=len(found.waves))))

    made = await portfolio.document(telegram_id, t.locale, on_start=started)
    if isinstance(made, ExportRefusal):
        await query.answer(t.plain(f"portfolio.toast.{made.value}"))
        return
    found_name = made.name or t.plain("portfolio.doc.no_name")
    caption = t("portfolio.caption", name=found_name, date=t.date(made.day))
    if made.charts_left_out:
        caption = f"{caption}\n{t('portfolio.charts_left_out')}"
    await message.answer_document(
        BufferedInputFile(made.data, filename=made.filename), caption=caption
    )
    for sent in progress:
        await sent.edit_text(t("portfolio.progress_done"))
