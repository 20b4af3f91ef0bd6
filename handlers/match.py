"""/match (organisers): propose mentor–mentee pairs for a cohort, review them page by page
(swap, assign, remove), confirm; /mentor (trainees): my mentor, and a request for another
one, once per cohort, which the organisers approve or decline.

MatchService keeps the proposal in the database; the messages only show it. Every button
carries the proposal's id, so a button of a replaced or confirmed proposal changes nothing.
"""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.content import Translator
from bot.domain.matching import Prefer
from bot.domain.practice import REASON_LIMIT, check_text
from bot.services.matching import (
    Confirmed,
    MatchRefusal,
    MatchService,
    MyMentor,
    PersonView,
    Picker,
    ProposalView,
)
from handlers import keyboards
from handlers.callbacks import MatchCB, MentorCB, RematchCB
from handlers.editing import edit_text

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")

PAGE_SIZE = 8  # pairs (and unmatched trainees) per message page
QUIET_REFUSALS = (MatchRefusal.STALE, MatchRefusal.SAME)  # a toast is enough


class RematchForm(StatesGroup):
    reason = State()  # data: mt_cohort


# -- views -------------------------------------------------------------------------------


def _other(prefer: Prefer) -> Prefer:
    return Prefer.SCORE if prefer is Prefer.COVERAGE else Prefer.COVERAGE


def summary(
    view: ProposalView, t: Translator, *, again: bool = True
) -> tuple[str, InlineKeyboardMarkup | None]:
    text = t(
        "match.summary",
        cohort=view.cohort_name,
        trainees=view.trainees,
        mentors=view.mentors,
        matched=len(view.pairs),
        unmatched=len(view.unmatched),
        total=view.total,
        prefer=t.plain(f"match.prefer.{view.prefer.value}"),
    )
    if not again:
        return text, None
    kb = InlineKeyboardBuilder()
    other = _other(view.prefer)
    kb.button(
        text=t.plain("match.again_button", prefer=t.plain(f"match.prefer.{other.value}")),
        callback_data=MatchCB(a="re", p=view.id, i=0 if other is Prefer.COVERAGE else 1),
    )
    return text, kb.as_markup()


def _items(view: ProposalView) -> list[tuple[int, int, PersonView]]:
    """(pair id or 0, trainee id, trainee) in the order shown: pairs, then the unmatched."""
    items = [(p.match_id, p.trainee.user_id, p.trainee) for p in view.pairs]
    items += [(0, u.user_id, u) for u in view.unmatched]
    return items


def _pages(view: ProposalView) -> int:
    return max(1, -(-len(_items(view)) // PAGE_SIZE))


def _page_of(view: ProposalView, trainee_id: int) -> int:
    for index, (_, tid, _) in enumerate(_items(view)):
        if tid == trainee_id:
            return index // PAGE_SIZE
    return 0


def page(
    view: ProposalView, number: int, t: Translator, matching: MatchService
) -> tuple[str, InlineKeyboardMarkup]:
    pages = _pages(view)
    number = min(max(number, 0), pages - 1)
    start = number * PAGE_SIZE
    lines = []
    kb = InlineKeyboardBuilder()
    sizes = []
    for n, (match_id, trainee_id, _) in enumerate(
        _items(view)[start : start + PAGE_SIZE], start + 1
    ):
        pair = view.pair_of(trainee_id) if match_id else None
        if pair is not None:
            lines.append(
                t(
                    "match.pair_line",
                    n=n,
                    trainee=pair.trainee.name or "—",
                    unit=pair.trainee.unit,
                    mentor=pair.mentor.name or "—",
                    reasons=matching.reason_text(t.locale, pair),
                    score=pair.score,
                )
            )
            kb.button(
                text=t.plain("match.swap_button", n=n),
                callback_data=MatchCB(a="sw", p=view.id, i=trainee_id, g=number),
            )
            kb.button(
                text=t.plain("match.remove_button", n=n),
                callback_data=MatchCB(a="rm", p=view.id, i=match_id, g=number),
            )
            sizes.append(2)
        else:
            person = next(u for u in view.unmatched if u.user_id == trainee_id)
            lines.append(
                t("match.unmatched_line", n=n, trainee=person.name or "—", unit=person.unit)
            )
            kb.button(
                text=t.plain("match.assign_button", n=n),
                callback_data=MatchCB(a="as", p=view.id, i=trainee_id, g=number),
            )
            sizes.append(1)
    if pages > 1:
        kb.button(text="◀️", callback_data=MatchCB(a="pg", p=view.id, i=(number - 1) % pages))
        kb.button(text="▶️", callback_data=MatchCB(a="pg", p=view.id, i=(number + 1) % pages))
        sizes.append(2)
    if view.pairs:
        kb.button(text=t.plain("match.confirm_button"), callback_data=MatchCB(a="ok", p=view.id))
        sizes.append(1)
    if sizes:
        kb.adjust(*sizes)
    text = t(
        "match.page",
        cohort=view.cohort_name,
        page=number + 1,
        pages=pages,
        matched=len(view.pairs),
        unmatched=len(view.unmatched),
        total=view.total,
        lines=lines,
    )
    return text, kb.as_markup()


def picker_view(found: Picker, back: int, t: Translator) -> tuple[str, InlineKeyboardMarkup]:
    kb = InlineKeyboardBuilder()
    for c in found.candidates[: PAGE_SIZE * 2]:
        kb.button(
            text=t.plain(
                "match.candidate_button", name=c.mentor.name or "—", score=c.score, free=c.free
            ),
            callback_data=MatchCB(
                a="pk", p=found.proposal_id, i=found.trainee.user_id, m=c.mentor.user_id, g=back
            ),
        )
    kb.button(
        text=t.plain("match.back_button"),
        callback_data=MatchCB(a="pg", p=found.proposal_id, i=back),
    )
    kb.adjust(1)
    text = t(
        "match.picker",
        trainee=found.trainee.name or "—",
        unit=found.trainee.unit,
        swap=found.current_mentor_id is not None,
        empty=not found.candidates,
    )
    return text, kb.as_markup()


def _refusal_text(refusal: MatchRefusal, t: Translator) -> str:
    return t.plain(f"match.refusal.{refusal.value}")


async def _refused(query: CallbackQuery, refusal: MatchRefusal, t: Translator) -> None:
    await query.answer(_refusal_text(refusal, t), show_alert=refusal not in QUIET_REFUSALS)


def _message(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


async def show_proposal(
    message: Message, view: ProposalView, t: Translator, matching: MatchService, *, again: bool
) -> None:
    text, markup = summary(view, t, again=again)
    await message.answer(text, reply_markup=markup)
    text, markup = page(view, 0, t, matching)
    await message.answer(text, reply_markup=markup)


# -- /match ------------------------------------------------------------------------------


@router.message(Command("match"))
async def match_command(
    message: Message, state: FSMContext, matching: MatchService, t: Translator
) -> None:
    assert message.from_user is not None
    await state.set_state(None)
    cohorts = await matching.organised(message.from_user.id)
    if not cohorts:
        await message.answer(t("match.not_organiser"))
        return
    if len(cohorts) > 1:
        kb = InlineKeyboardBuilder()
        for cohort_id, name in cohorts:
            kb.button(text=name, callback_data=MatchCB(a="co", p=cohort_id))
        kb.adjust(1)
        await message.answer(t("match.choose_cohort"), reply_markup=kb.as_markup())
        return
    await _propose(message, message.from_user.id, cohorts[0][0], matching, t)


async def _propose(
    message: Message, telegram_id: int, cohort_id: int, matching: MatchService, t: Translator
) -> None:
    await message.answer(t("match.working"))
    view = await matching.propose(telegram_id, cohort_id)
    if isinstance(view, MatchRefusal):
        await message.answer(t(f"match.refusal.{view.value}"))
        return
    await show_proposal(message, view, t, matching, again=True)


@router.callback_query(MatchCB.filter(F.a == "co"))
async def cohort_chosen(
    query: CallbackQuery, callback_data: MatchCB, matching: MatchService, t: Translator
) -> None:
    message = _message(query)
    cohorts = await matching.organised(query.from_user.id) or []
    if message is None or all(c != callback_data.p for c, _ in cohorts):
        await _refused(query, MatchRefusal.NOT_ORGANISER, t)
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    await _propose(message, query.from_user.id, callback_data.p, matching, t)


@router.callback_query(MatchCB.filter(F.a == "re"))
async def again_pressed(
    query: CallbackQuery, callback_data: MatchCB, matching: MatchService, t: Translator
) -> None:
    message = _message(query)
    prefer = Prefer.SCORE if callback_data.i else Prefer.COVERAGE
    view = await matching.repropose(query.from_user.id, callback_data.p, prefer)
    if message is None or isinstance(view, MatchRefusal):
        await _refused(query, view if isinstance(view, MatchRefusal) else MatchRefusal.STALE, t)
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    await show_proposal(message, view, t, matching, again=True)


@router.callback_query(MatchCB.filter(F.a == "pg"))
async def page_pressed(
    query: CallbackQuery, callback_data: MatchCB, matching: MatchService, t: Translator
) -> None:
    message = _message(query)
    view = await matching.view(query.from_user.id, callback_data.p)
    if message is None or isinstance(view, MatchRefusal):
        await _refused(query, view if isinstance(view, MatchRefusal) else MatchRefusal.STALE, t)
        return
    await query.answer()
    text, markup = page(view, callback_data.i, t, matching)
    await edit_text(message, text, markup)


@router.callback_query(MatchCB.filter(F.a.in_({"sw", "as"})))
async def pick_asked(
    query: CallbackQuery, callback_data: MatchCB, matching: MatchService, t: Translator
) -> None:
    message = _message(query)
    found = await matching.picker(query.from_user.id, callback_data.p, callback_data.i)
    if message is None or isinstance(found, MatchRefusal):
        await _refused(query, found if isinstance(found, MatchRefusal) else MatchRefusal.STALE, t)
        return
    await query.answer()
    text, markup = picker_view(found, callback_data.g, t)
    await edit_text(message, text, markup)


@router.callback_query(MatchCB.filter(F.a == "pk"))
async def mentor_picked(
    query: CallbackQuery, callback_data: MatchCB, matching: MatchService, t: Translator
) -> None:
    message = _message(query)
    view = await matching.assign(
        query.from_user.id, callback_data.p, callback_data.i, callback_data.m
    )
    if message is None or isinstance(view, MatchRefusal):
        await _refused(query, view if isinstance(view, MatchRefusal) else MatchRefusal.STALE, t)
        return
    await query.answer(t.plain("match.picked_toast"))
    text, markup = page(view, _page_of(view, callback_data.i), t, matching)
    await edit_text(message, text, markup)


@router.callback_query(MatchCB.filter(F.a == "rm"))
async def remove_pressed(
    query: CallbackQuery, callback_data: MatchCB, matching: MatchService, t: Translator
) -> None:
    message = _message(query)
    view = await matching.remove(query.from_user.id, callback_data.p, callback_data.i)
    if message is None or isinstance(view, MatchRefusal):
        await _refused(query, view if isinstance(view, MatchRefusal) else MatchRefusal.STALE, t)
        return
    await query.answer(t.plain("match.removed_toast"))
    text, markup = page(view, callback_data.g, t, matching)
    await edit_text(message, text, markup)


@router.callback_query(MatchCB.filter(F.a == "ok"))
async def confirm_pressed(
    query: CallbackQuery, callback_data: MatchCB, matching: MatchService, t: Translator
) -> None:
    message = _message(query)
    done = await matching.confirm(query.from_user.id, callback_data.p)
    if message is None or not isinstance(done, Confirmed):
        await _refused(query, done if isinstance(done, MatchRefusal) else MatchRefusal.STALE, t)
        return
    await query.answer(t.plain("match.confirmed_toast"))
    await edit_text(message, t("match.confirmed", cohort=done.cohort_name, pairs=done.pairs), None)


@router.callback_query(MatchCB.filter())
async def unknown_match_button(query: CallbackQuery, t: Translator) -> None:
    await _refused(query, MatchRefusal.NOT_FOUND, t)


# -- rematch decisions (organisers) -------------------------------------------------------


@router.callback_query(RematchCB.filter(F.a.in_({"y", "n"})))
async def rematch_decided(
    query: CallbackQuery, callback_data: RematchCB, matching: MatchService, t: Translator
) -> None:
    message = _message(query)
    approve = callback_data.a == "y"
    decision = await matching.decide_rematch(query.from_user.id, callback_data.r, approve)
    if message is None or isinstance(decision, MatchRefusal):
        await _refused(
            query, decision if isinstance(decision, MatchRefusal) else MatchRefusal.STALE, t
        )
        return
    await query.answer(t.plain("match.rematch.decided_toast", approved=approve))
    with contextlib.suppress(TelegramBadRequest):
        await keyboards.drop_buttons(message)
    name = decision.trainee.name if decision.trainee else None
    await message.answer(t("match.rematch.decided", approved=approve, name=name or "—"))
    if decision.proposal is not None:
        await show_proposal(message, decision.proposal, t, matching, again=False)


# -- /mentor (trainees) ---------------------------------------------------------------------


def mentor_text(m: MyMentor, t: Translator) -> str:
    if m.mentor is None:
        return t("match.mentor.none", cohort=m.cohort_name, rematch=m.rematch)
    return t(
        "match.mentor.view",
        cohort=m.cohort_name,
        telegram_id=m.mentor.telegram_id,
        name=m.mentor.name or "—",
        position=m.mentor.position,
        unit=m.mentor.unit,
        areas=[t.area(a) for a in m.areas],
        strengths=[t.strength(s) for s in m.strengths],
        bio=m.bio,
        rematch=m.rematch,
    )


@router.message(Command("mentor"))
async def mentor_command(
    message: Message, state: FSMContext, matching: MatchService, t: Translator
) -> None:
    assert message.from_user is not None
    await state.set_state(None)
    mine = await matching.my_mentors(message.from_user.id)
    if mine is None:
        await message.answer(t("match.mentor.not_trainee"))
        return
    for m in mine:
        markup = None
        if m.may_ask_rematch:
            kb = InlineKeyboardBuilder()
            kb.button(
                text=t.plain("match.mentor.rematch_button"),
                callback_data=MentorCB(a="rq", c=m.cohort_id),
            )
            markup = kb.as_markup()
        await message.answer(mentor_text(m, t), reply_markup=markup)


@router.callback_query(MentorCB.filter(F.a == "rq"))
async def rematch_asked(
    query: CallbackQuery,
    callback_data: MentorCB,
    state: FSMContext,
    matching: MatchService,
    t: Translator,
) -> None:
    message = _message(query)
    refusal = await matching.may_ask_rematch(query.from_user.id, callback_data.c)
    if message is None:
        await _refused(query, MatchRefusal.STALE, t)
        return
    if refusal is not None:
        await query.answer()
        await message.answer(t(f"match.mentor.refusal.{refusal.value}"))
        return
    await query.answer()
    await state.set_state(RematchForm.reason)
    await state.update_data(mt_cohort=callback_data.c)
    await message.answer(t("match.mentor.ask_reason", limit=REASON_LIMIT))


@router.message(StateFilter(RematchForm.reason), ~F.text.startswith("/"))
async def rematch_reason(
    message: Message, state: FSMContext, matching: MatchService, t: Translator
) -> None:
    assert message.from_user is not None
    checked = check_text(message.text, REASON_LIMIT)
    if checked.value is None:
        assert checked.problem is not None
        await message.answer(
            t(
                f"match.mentor.text.{checked.problem.value}",
                length=checked.length,
                limit=REASON_LIMIT,
            )
        )
        return
    cohort_id = int((await state.get_data())["mt_cohort"])
    result = await matching.request_rematch(message.from_user.id, cohort_id, checked.value)
    await state.set_state(None)
    if isinstance(result, MatchRefusal):
        await message.answer(t(f"match.mentor.refusal.{result.value}"))
        return
    await message.answer(t("match.mentor.sent"))
