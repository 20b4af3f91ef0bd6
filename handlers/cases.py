"""/cases: the cohort's case library, proposals and the trainee's consent.

Everyone in a cohort browses it: areas with their counts, the cases of an area, a case in
full. An organiser also finds the cohort's finished reflections there and recommends one
(title, area); its author answers a consent request that arrives through the outbox. Every
press goes to CaseService, which refuses foreign, stale or repeated ones (a toast).
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.content import Translator
from bot.domain.cases import CASES_PAGE_SIZE, TITLE_LIMIT
from bot.domain.ltsi import split_messages
from bot.domain.notices import TEXT_LIMIT
from bot.domain.practice import check_text
from bot.services.cases import (
    AreaPage,
    CaseService,
    CaseView,
    Library,
    OutgoingText,
    ReflectionPage,
    ReflectionView,
    Refusal,
    body_parts,
)
from handlers import keyboards
from handlers.callbacks import CaseCB
from handlers.editing import edit_text

log = logging.getLogger(__name__)

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")

TITLE_KEY = "case_title"
REFLECTION_KEY = "case_reflection"


class Propose(StatesGroup):
    title = State()
    area = State()


def _toast(t: Translator, refusal: Refusal) -> str:
    return t.plain(f"cases.toast.{refusal.value}")


def _message(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


def _markup(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup | None:
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def _button(text: str, cb: CaseCB) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=cb.pack())


def _pager(
    action: str, cohort: int, page: int, pages: int, t: Translator, v: str = ""
) -> list[InlineKeyboardButton]:
    row: list[InlineKeyboardButton] = []
    if page > 0:
        row.append(
            _button(t.plain("cases.prev_button"), CaseCB(a=action, c=cohort, i=page - 1, v=v))
        )
    if page + 1 < pages:
        row.append(
            _button(t.plain("cases.next_button"), CaseCB(a=action, c=cohort, i=page + 1, v=v))
        )
    return row


# -- views ---------------------------------------------------------------------------------


def library_view(lib: Library, t: Translator) -> tuple[str, InlineKeyboardMarkup | None]:
    c = lib.cohort.id
    if lib.total:
        text = t("cases.home", cohort=lib.cohort.name, total=lib.total)
    else:
        text = t("cases.home_empty", cohort=lib.cohort.name)
    kb = InlineKeyboardBuilder()
    for area, count in lib.areas:
        kb.button(
            text=t.plain("cases.area_button", area=t.area(area), count=count),
            callback_data=CaseCB(a="area", c=c, v=area),
        )
    kb.adjust(2)
    rows = list(kb.export())
    if lib.has_own:
        rows.append([_button(t.plain("cases.mine_button"), CaseCB(a="mine", c=c))])
    if lib.may_propose:
        rows.append([_button(t.plain("cases.recommend_button"), CaseCB(a="refl", c=c))])
    return text, _markup(rows)


def area_view(p: AreaPage, t: Translator) -> tuple[str, InlineKeyboardMarkup | None]:
    first = p.page * CASES_PAGE_SIZE + 1
    cases = [
        {
            "number": first + n,
            "title": c.title,
            "pseudonym": t.plain("cases.pseudonym", code=c.pseudonym),
            "date": t.date(c.published_on) if c.published_on else "",
        }
        for n, c in enumerate(p.cases)
    ]
    text = t(
        "cases.area_list",
        area=t.area(p.area),
        total=p.total,
        page=p.page + 1,
        pages=p.pages,
        cases=cases,
    )
    rows = [
        [
            _button(
                t.plain("cases.case_button", number=first + n, title=c.title),
                CaseCB(a="case", c=p.cohort.id, i=c.id),
            )
        ]
        for n, c in enumerate(p.cases)
    ]
    rows.append(_pager("area", p.cohort.id, p.page, p.pages, t, v=p.area))
    rows.append([_button(t.plain("cases.back_button"), CaseCB(a="home", c=p.cohort.id))])
    return text, _markup(rows)


def case_messages(view: CaseView, t: Translator) -> list[tuple[str, InlineKeyboardMarkup | None]]:
    header = t(
        "cases.case_header",
        title=view.title,
        area=t.area(view.area),
        pseudonym=t.plain("cases.pseudonym", code=view.pseudonym),
        date=t.date(view.published_on) if view.published_on else "",
    )
    texts = split_messages([header, *body_parts(view.body)], TEXT_LIMIT)
    markup = None
    if view.is_author:
        markup = _markup(
            [
                [
                    _button(
                        t.plain("cases.withdraw_button"),
                        CaseCB(a="wd", c=view.cohort.id, i=view.id),
                    )
                ]
            ]
        )
    return [(text, markup if n == len(texts) - 1 else None) for n, text in enumerate(texts)]


def reflections_view(p: ReflectionPage, t: Translator) -> tuple[str, InlineKeyboardMarkup | None]:
    c = p.cohort.id
    if not p.items:
        return t("cases.reflections_empty", cohort=p.cohort.name), _markup(
            [[_button(t.plain("cases.back_button"), CaseCB(a="home", c=c))]]
        )
    items = [
        {
            "number": n + 1,
            "date": t.date(r.on),
            "area": t.area(r.area) if r.area else None,
            "excerpt": r.excerpt or t.plain("cases.media_only"),
            "proposed": r.proposed,
        }
        for n, r in enumerate(p.items)
    ]
    text = t(
        "cases.reflections",
        cohort=p.cohort.name,
        total=p.total,
        page=p.page + 1,
        pages=p.pages,
        items=items,
    )
    rows = []
    for n, r in enumerate(p.items):
        row = [_button(t.plain("cases.view_button", number=n + 1), CaseCB(a="rv", c=c, i=r.id))]
        if not r.proposed:
            row.append(
                _button(t.plain("cases.propose_button", number=n + 1), CaseCB(a="rp", c=c, i=r.id))
            )
        rows.append(row)
    rows.append(_pager("refl", c, p.page, p.pages, t))
    rows.append([_button(t.plain("cases.back_button"), CaseCB(a="home", c=c))])
    return text, _markup(rows)


def reflection_parts(view: ReflectionView, t: Translator) -> list[str]:
    parts = [
        t(
            "cases.reflection",
            date=t.date(view.on),
            author=view.author_name or t.plain("cases.someone"),
            area=t.area(view.area) if view.area else None,
            proposed=view.proposed,
        )
    ]
    for n, answer in enumerate(view.answers):
        heading = answer.heading or t.plain("cases.answer_heading", number=n + 1)
        if answer.kind in ("voice", "photo"):
            parts.append(t(f"cases.answer_{answer.kind}", heading=heading, caption=answer.text))
        elif answer.text and answer.text.strip():
            pieces = body_parts(answer.text)
            head = t("cases.heading_line", heading=heading)
            if len(head) + 1 + len(pieces[0]) <= TEXT_LIMIT:
                pieces[0] = f"{head}\n{pieces[0]}"
            else:
                pieces.insert(0, head)
            parts.extend(pieces)
    return parts


# -- /cases --------------------------------------------------------------------------------


@router.message(Command("cases"))
async def cases_command(message: Message, cases: CaseService, t: Translator) -> None:
    assert message.from_user is not None
    cohorts = await cases.cohorts(message.from_user.id)
    if not cohorts:
        await message.answer(t("cases.not_member"))
        return
    if len(cohorts) > 1:
        kb = InlineKeyboardBuilder()
        for cohort in cohorts:
            kb.button(text=cohort.name, callback_data=CaseCB(a="home", c=cohort.id))
        kb.adjust(1)
        await message.answer(t("cases.choose_cohort"), reply_markup=kb.as_markup())
        return
    lib = await cases.library(message.from_user.id, cohorts[0].id)
    if isinstance(lib, Refusal):
        await message.answer(t("cases.not_member"))
        return
    text, markup = library_view(lib, t)
    await message.answer(text, reply_markup=markup)


@router.callback_query(CaseCB.filter(F.a == "home"))
async def home(
    query: CallbackQuery, callback_data: CaseCB, cases: CaseService, t: Translator
) -> None:
    message = _message(query)
    lib = await cases.library(query.from_user.id, callback_data.c)
    if message is None or isinstance(lib, Refusal):
        await query.answer(_toast(t, lib if isinstance(lib, Refusal) else Refusal.STALE))
        return
    await query.answer()
    text, markup = library_view(lib, t)
    await edit_text(message, text, markup)


@router.callback_query(CaseCB.filter(F.a == "area"))
async def area(
    query: CallbackQuery, callback_data: CaseCB, cases: CaseService, t: Translator
) -> None:
    message = _message(query)
    page = await cases.area(query.from_user.id, callback_data.c, callback_data.v, callback_data.i)
    if message is None or isinstance(page, Refusal):
        await query.answer(_toast(t, page if isinstance(page, Refusal) else Refusal.STALE))
        return
    await query.answer()
    if not page.cases:
        await message.answer(t("cases.area_empty"))
        return
    text, markup = area_view(page, t)
    await edit_text(message, text, markup)


@router.callback_query(CaseCB.filter(F.a == "case"))
async def show_case(
    query: CallbackQuery, callback_data: CaseCB, cases: CaseService, t: Translator
) -> None:
    message = _message(query)
    view = await cases.case(query.from_user.id, callback_data.i)
    if message is None or isinstance(view, Refusal):
        await query.answer(_toast(t, view if isinstance(view, Refusal) else Refusal.STALE))
        return
    await query.answer()
    for text, markup in case_messages(view, t):
        await message.answer(text, reply_markup=markup)


# -- the author: my cases, withdrawal --------------------------------------------------------


@router.callback_query(CaseCB.filter(F.a == "mine"))
async def mine(
    query: CallbackQuery, callback_data: CaseCB, cases: CaseService, t: Translator
) -> None:
    message = _message(query)
    own = await cases.mine(query.from_user.id, callback_data.c)
    lib = await cases.library(query.from_user.id, callback_data.c)
    if message is None or isinstance(own, Refusal) or isinstance(lib, Refusal):
        refusal = own if isinstance(own, Refusal) else Refusal.STALE
        await query.answer(_toast(t, refusal))
        return
    await query.answer()
    back = [_button(t.plain("cases.back_button"), CaseCB(a="home", c=callback_data.c))]
    if not own:
        await edit_text(message, t("cases.mine_empty"), _markup([back]))
        return
    items = [
        {
            "number": n + 1,
            "title": c.title,
            "area": t.area(c.area),
            "status": t.plain(f"cases.status.{c.status.value}"),
            "date": t.date(c.on),
        }
        for n, c in enumerate(own)
    ]
    rows = []
    for n, c in enumerate(own):
        if c.status == "published":
            rows.append(
                [_button(t.plain("cases.open_button", number=n + 1), CaseCB(a="case", i=c.id))]
            )
        elif c.status == "proposed":
            rows.append(
                [_button(t.plain("cases.answer_button", number=n + 1), CaseCB(a="req", i=c.id))]
            )
    rows.append(back)
    await edit_text(message, t("cases.mine", cohort=lib.cohort.name, cases=items), _markup(rows))


@router.callback_query(CaseCB.filter(F.a == "req"))
async def request_again(
    query: CallbackQuery, callback_data: CaseCB, cases: CaseService, t: Translator
) -> None:
    message = _message(query)
    messages = await cases.pending_request(query.from_user.id, callback_data.i)
    if message is None or isinstance(messages, Refusal):
        await query.answer(_toast(t, messages if isinstance(messages, Refusal) else Refusal.STALE))
        return
    await query.answer()
    for m in messages:
        await message.answer(m.text, reply_markup=_outgoing_markup(m))


def _outgoing_markup(m: OutgoingText) -> InlineKeyboardMarkup | None:
    return _markup(
        [
            [InlineKeyboardButton(text=label, callback_data=data) for label, data in row]
            for row in m.buttons
        ]
    )


@router.callback_query(CaseCB.filter(F.a == "wd"))
async def withdraw_ask(
    query: CallbackQuery, callback_data: CaseCB, cases: CaseService, t: Translator
) -> None:
    message = _message(query)
    view = await cases.case(query.from_user.id, callback_data.i)
    if message is None or isinstance(view, Refusal) or not view.is_author:
        refusal = view if isinstance(view, Refusal) else Refusal.NOT_YOURS
        await query.answer(_toast(t, refusal if message is not None else Refusal.STALE))
        return
    await query.answer()
    markup = _markup(
        [
            [
                _button(t.plain("cases.withdraw_yes"), CaseCB(a="wy", i=view.id)),
                _button(t.plain("cases.withdraw_no"), CaseCB(a="wk", i=view.id)),
            ]
        ]
    )
    await message.answer(t("cases.withdraw_confirm", title=view.title), reply_markup=markup)


@router.callback_query(CaseCB.filter(F.a == "wy"))
async def withdraw(
    query: CallbackQuery, callback_data: CaseCB, cases: CaseService, t: Translator
) -> None:
    message = _message(query)
    done = await cases.withdraw(query.from_user.id, callback_data.i)
    if message is None or isinstance(done, Refusal):
        await query.answer(_toast(t, done if isinstance(done, Refusal) else Refusal.STALE))
        return
    await query.answer()
    await edit_text(message, t("cases.withdrawn", title=done.title))


@router.callback_query(CaseCB.filter(F.a == "wk"))
async def keep(query: CallbackQuery, t: Translator) -> None:
    message = _message(query)
    if message is None:
        await query.answer(_toast(t, Refusal.STALE))
        return
    await query.answer()
    await edit_text(message, t("cases.withdraw_kept"))


# -- the author's consent --------------------------------------------------------------------


@router.callback_query(CaseCB.filter(F.a.in_({"ok", "no"})))
async def consent(
    query: CallbackQuery, callback_data: CaseCB, cases: CaseService, t: Translator
) -> None:
    message = _message(query)
    if message is None:
        await query.answer(_toast(t, Refusal.STALE))
        return
    decision = await cases.answer(query.from_user.id, callback_data.i, callback_data.a == "ok")
    if isinstance(decision, Refusal):
        await query.answer(_toast(t, decision))
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    key = "cases.consent.published" if decision.published else "cases.consent.declined"
    await message.answer(t(key, title=decision.title, cohort=decision.cohort.name))


# -- organisers: recommending a reflection ---------------------------------------------------


@router.callback_query(CaseCB.filter(F.a == "refl"))
async def reflections(
    query: CallbackQuery, callback_data: CaseCB, cases: CaseService, t: Translator
) -> None:
    message = _message(query)
    page = await cases.reflections(query.from_user.id, callback_data.c, callback_data.i)
    if message is None or isinstance(page, Refusal):
        await query.answer(_toast(t, page if isinstance(page, Refusal) else Refusal.STALE))
        return
    await query.answer()
    text, markup = reflections_view(page, t)
    await edit_text(message, text, markup)


@router.callback_query(CaseCB.filter(F.a == "rv"))
async def view_reflection(
    query: CallbackQuery, callback_data: CaseCB, bot: Bot, cases: CaseService, t: Translator
) -> None:
    message = _message(query)
    view = await cases.reflection(query.from_user.id, callback_data.i)
    if message is None or isinstance(view, Refusal):
        await query.answer(_toast(t, view if isinstance(view, Refusal) else Refusal.STALE))
        return
    await query.answer()
    texts = split_messages(reflection_parts(view, t), TEXT_LIMIT)
    for text in texts[:-1]:
        await message.answer(text)
    markup = None
    if not view.proposed:
        markup = _markup(
            [
                [
                    _button(
                        t.plain("cases.propose_one_button"),
                        CaseCB(a="rp", c=view.cohort.id, i=view.id),
                    )
                ]
            ]
        )
    await message.answer(texts[-1], reply_markup=markup)
    for n, answer in enumerate(view.answers):
        if answer.kind not in ("voice", "photo") or not answer.file_id:
            continue
        heading = answer.heading or t.plain("cases.answer_heading", number=n + 1)
        caption = t(f"cases.media_caption.{answer.kind}", heading=heading)
        try:
            if answer.kind == "voice":
                await bot.send_voice(message.chat.id, answer.file_id, caption=caption)
            else:
                await bot.send_photo(message.chat.id, answer.file_id, caption=caption)
        except TelegramBadRequest as exc:  # a file id Telegram no longer knows
            log.warning("reflection %s: its %s cannot be sent: %s", view.id, answer.kind, exc)
            kind = t.plain(f"cases.media_kind.{answer.kind}")
            await message.answer(t("cases.media_missing", kind=kind))


@router.callback_query(CaseCB.filter(F.a == "rp"))
async def recommend(
    query: CallbackQuery,
    callback_data: CaseCB,
    state: FSMContext,
    cases: CaseService,
    t: Translator,
) -> None:
    message = _message(query)
    start = await cases.start_proposal(query.from_user.id, callback_data.i)
    if message is None or isinstance(start, Refusal):
        await query.answer(_toast(t, start if isinstance(start, Refusal) else Refusal.STALE))
        return
    await query.answer()
    await state.set_state(Propose.title)
    await state.update_data({REFLECTION_KEY: start.reflection_id, TITLE_KEY: None})
    await message.answer(t("cases.ask_title", limit=TITLE_LIMIT))


@router.message(Propose.title, ~F.text.startswith("/"))
async def title_given(
    message: Message, state: FSMContext, cases: CaseService, t: Translator
) -> None:
    assert message.from_user is not None
    checked = check_text(message.text, TITLE_LIMIT)
    if checked.value is None:
        assert checked.problem is not None
        await message.answer(
            t(f"cases.title_{checked.problem.value}", length=checked.length, limit=checked.limit)
        )
        return
    data = await state.get_data()
    reflection_id = data.get(REFLECTION_KEY)
    start = await cases.start_proposal(message.from_user.id, int(reflection_id or 0))
    if isinstance(start, Refusal):
        await state.set_state(None)
        await message.answer(t(f"cases.toast.{start.value}"))
        return
    await state.update_data({TITLE_KEY: checked.value})
    await state.set_state(Propose.area)
    areas = list(t.texts.area_ids())
    if start.default_area is not None:
        areas.remove(start.default_area)
        areas.insert(0, start.default_area)
    kb = InlineKeyboardBuilder()
    for area_id in areas:
        label = t.area(area_id)
        if area_id == start.default_area:
            label = t.plain("cases.area_default", area=label)
        kb.button(text=label, callback_data=CaseCB(a="pa", i=start.reflection_id, v=area_id))
    kb.adjust(2)
    default = t.area(start.default_area) if start.default_area else None
    await message.answer(
        t("cases.ask_area", title=checked.value, default=default), reply_markup=kb.as_markup()
    )


@router.message(Propose.area, ~F.text.startswith("/"))
async def area_expected(message: Message, t: Translator) -> None:
    await message.answer(t("cases.use_area_buttons"))


@router.callback_query(CaseCB.filter(F.a == "pa"))
async def area_picked(
    query: CallbackQuery,
    callback_data: CaseCB,
    state: FSMContext,
    cases: CaseService,
    t: Translator,
) -> None:
    message = _message(query)
    data = await state.get_data()
    title = data.get(TITLE_KEY)
    if (
        message is None
        or await state.get_state() != Propose.area.state
        or data.get(REFLECTION_KEY) != callback_data.i
        or not isinstance(title, str)
        or callback_data.v not in t.texts.area_ids()
    ):
        await query.answer(_toast(t, Refusal.STALE))
        return
    result = await cases.propose(query.from_user.id, callback_data.i, title, callback_data.v)
    await state.set_state(None)
    await state.update_data({REFLECTION_KEY: None, TITLE_KEY: None})
    if isinstance(result, Refusal):
        await query.answer(_toast(t, result))
        await edit_text(message, t(f"cases.toast.{result.value}"))
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    await message.answer(
        t(
            "cases.proposed",
            author=result.author_name or t.plain("cases.someone"),
            pseudonym=t.plain("cases.pseudonym", code=result.pseudonym),
            area=t.area(result.area),
        )
    )
