"""/broadcast: an organiser's course notice — audience, content, preview, send or schedule.

/broadcasts lists past notices; recipients press "received" (AckCB).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.content import Translator
from bot.domain.notices import Audience, check_notice, excerpt, parse_send_time
from bot.services.broadcasts import (
    AckOutcome,
    BroadcastService,
    ConfirmOutcome,
    Draft,
    Notice,
)
from handlers import keyboards
from handlers.callbacks import AckCB, BroadcastCB, row_id
from handlers.editing import edit_text

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


class Compose(StatesGroup):
    content = State()
    send_time = State()


@router.message(Command("broadcast"))
async def start(
    message: Message, state: FSMContext, broadcasts: BroadcastService, t: Translator
) -> None:
    assert message.from_user is not None
    cohorts = await broadcasts.cohorts_of(message.from_user.id)
    if cohorts is None:
        await message.answer(t("broadcast.not_organiser"))
        return
    if not cohorts:
        await message.answer(t("broadcast.no_cohorts", telegram_id=message.from_user.id))
        return
    await state.set_state(None)
    if len(cohorts) == 1:
        await _ask_audience(message, cohorts[0].id, cohorts[0].name, t)
        return
    kb = InlineKeyboardBuilder()
    for cohort in cohorts:
        kb.button(
            text=cohort.name, callback_data=BroadcastCB(action="cohort", value=str(cohort.id))
        )
    kb.button(text=t.plain("broadcast.all_cohorts"), callback_data=BroadcastCB(action="cohort"))
    kb.adjust(1)
    await message.answer(t("broadcast.choose_cohort"), reply_markup=kb.as_markup())


async def _ask_audience(message: Message, cohort_id: int | None, name: str, t: Translator) -> None:
    kb = InlineKeyboardBuilder()
    value = str(cohort_id or "")
    for audience in Audience:
        kb.button(
            text=t.plain(f"broadcast.audience_{audience.value}"),
            callback_data=BroadcastCB(action="aud", value=f"{value}.{audience.value}"),
        )
    kb.adjust(1)
    await message.answer(t("broadcast.choose_audience", cohort=name), reply_markup=kb.as_markup())


@router.callback_query(BroadcastCB.filter(F.action == "cohort"))
async def cohort_chosen(
    query: CallbackQuery, callback_data: BroadcastCB, broadcasts: BroadcastService, t: Translator
) -> None:
    message = _message(query)
    cohorts = await broadcasts.cohorts_of(query.from_user.id) or []
    chosen = [c for c in cohorts if str(c.id) == callback_data.value]
    if message is None or (callback_data.value and not chosen):
        await query.answer(t.plain("problem.stale_button"))
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    if chosen:
        await _ask_audience(message, chosen[0].id, chosen[0].name, t)
    else:
        await _ask_audience(message, None, t.plain("broadcast.all_cohorts"), t)


@router.callback_query(BroadcastCB.filter(F.action == "aud"))
async def audience_chosen(
    query: CallbackQuery,
    callback_data: BroadcastCB,
    state: FSMContext,
    broadcasts: BroadcastService,
    t: Translator,
) -> None:
    message = _message(query)
    raw_cohort, _, raw_audience = callback_data.value.partition(".")
    audience: Audience | None = None
    cohort_id: int | None = None
    count: int | None = None
    if raw_audience in set(Audience) and (raw_cohort == "" or row_id(raw_cohort) is not None):
        audience = Audience(raw_audience)
        cohort_id = row_id(raw_cohort) if raw_cohort else None
        count = await broadcasts.count_recipients(query.from_user.id, cohort_id, audience)
    if message is None or audience is None or count is None:
        await query.answer(t.plain("problem.stale_button"))
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    if count == 0:
        await message.answer(t("broadcast.no_recipients"))
        return
    await state.set_state(Compose.content)
    await state.update_data(bc_cohort=cohort_id, bc_audience=audience.value)
    await message.answer(t("broadcast.ask_content", count=count))


@router.message(Compose.content, ~F.text.startswith("/"))
async def content_given(
    message: Message, state: FSMContext, broadcasts: BroadcastService, t: Translator
) -> None:
    assert message.from_user is not None
    notice = _notice_of(message)
    if notice is None:
        await message.answer(t("broadcast.unsupported"))
        return
    # Limits count what the recipient sees, not the HTML markup that carries it.
    check = check_notice(message.text or message.caption, has_media=notice.media_kind is not None)
    if check.problem is not None:
        await message.answer(
            t(f"broadcast.{check.problem.value}", length=check.length, limit=check.limit)
        )
        return
    data = await state.get_data()
    draft = await broadcasts.create_draft(
        message.from_user.id, data.get("bc_cohort"), Audience(data["bc_audience"]), notice
    )
    if draft is None:
        await state.set_state(None)
        await message.answer(t("broadcast.not_organiser"))
        return
    await state.set_state(None)
    await message.answer(t("broadcast.preview_header"))
    preview = await _send_preview(message, draft, t)
    await state.update_data(bc_preview=preview.message_id)
    await message.answer(
        await _options_text(draft, broadcasts, t), reply_markup=_options_keyboard(draft, t)
    )


def _notice_of(message: Message) -> Notice | None:
    caption = message.html_text if message.caption else None
    if message.photo:
        return Notice(caption, "photo", message.photo[-1].file_id)
    if message.document:
        doc = message.document
        return Notice(caption, "document", doc.file_id, doc.file_name)
    if message.text is not None:
        return Notice(message.html_text)
    return None


async def _send_preview(message: Message, draft: Draft, t: Translator) -> Message:
    markup = _ack_keyboard(draft.id, t) if draft.ack_requested else None
    notice = draft.notice
    if notice.media_kind == "photo":
        assert notice.media_file_id is not None
        return await message.answer_photo(
            notice.media_file_id, caption=notice.text, reply_markup=markup
        )
    if notice.media_kind == "document":
        assert notice.media_file_id is not None
        return await message.answer_document(
            notice.media_file_id, caption=notice.text, reply_markup=markup
        )
    return await message.answer(notice.text or "", reply_markup=markup)


def _ack_keyboard(
    broadcast_id: int, t: Translator, label: str = "broadcast.ack_button"
) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=t.plain(label), callback_data=AckCB(broadcast_id=broadcast_id))
    return kb.as_markup()


def _audience_label(draft: Draft, t: Translator) -> str:
    cohort = draft.cohort.name if draft.cohort else t.plain("broadcast.all_cohorts")
    return f"{cohort} · {t.plain(f'broadcast.audience_{draft.audience.value}')}"


async def _options_text(draft: Draft, broadcasts: BroadcastService, t: Translator) -> str:
    quiet = await broadcasts.quiet_until(draft.cohort)
    tz = draft.cohort.timezone if draft.cohort else broadcasts.default_timezone
    return t(
        "broadcast.options",
        audience=_audience_label(draft, t),
        count=draft.recipients,
        ack=draft.ack_requested,
        reminder=draft.reminder_hours,
        quiet=t.moment(quiet, tz) if quiet else "",
    )


def _options_keyboard(draft: Draft, t: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(
        text=t.plain("broadcast.button_send_now"),
        callback_data=BroadcastCB(action="send", draft=draft.id),
    )
    kb.button(
        text=t.plain("broadcast.button_schedule"),
        callback_data=BroadcastCB(action="sched", draft=draft.id),
    )
    ack_label = "broadcast.button_ack_off" if draft.ack_requested else "broadcast.button_ack_on"
    kb.button(text=t.plain(ack_label), callback_data=BroadcastCB(action="ack", draft=draft.id))
    kb.button(
        text=t.plain("broadcast.button_cancel"),
        callback_data=BroadcastCB(action="cancel", draft=draft.id),
    )
    kb.adjust(2, 1, 1)
    return kb.as_markup()


@router.callback_query(BroadcastCB.filter(F.action == "ack"))
async def toggle_ack(
    query: CallbackQuery,
    callback_data: BroadcastCB,
    state: FSMContext,
    broadcasts: BroadcastService,
    t: Translator,
) -> None:
    message = _message(query)
    draft = await broadcasts.toggle_ack(query.from_user.id, callback_data.draft)
    if message is None or draft is None:
        await query.answer(t.plain("problem.stale_button"))
        return
    await query.answer()
    await edit_text(message, await _options_text(draft, broadcasts, t), _options_keyboard(draft, t))
    preview_id = (await state.get_data()).get("bc_preview")
    if preview_id and query.bot is not None:
        markup = _ack_keyboard(draft.id, t) if draft.ack_requested else None
        await query.bot.edit_message_reply_markup(
            chat_id=message.chat.id, message_id=int(preview_id), reply_markup=markup
        )


@router.callback_query(BroadcastCB.filter(F.action == "send"))
async def send_now(
    query: CallbackQuery, callback_data: BroadcastCB, broadcasts: BroadcastService, t: Translator
) -> None:
    message = _message(query)
    result = await broadcasts.confirm(query.from_user.id, callback_data.draft)
    if message is None or result.outcome is ConfirmOutcome.NOT_FOUND:
        await query.answer(t.plain("problem.stale_button"))
        return
    if result.outcome is ConfirmOutcome.ALREADY:
        await query.answer(t.plain("broadcast.already"), show_alert=True)
        return
    await query.answer()
    await keyboards.drop_buttons(message)
    await message.answer(t("broadcast.queued", count=result.recipients))


@router.callback_query(BroadcastCB.filter(F.action == "sched"))
async def ask_time(
    query: CallbackQuery,
    callback_data: BroadcastCB,
    state: FSMContext,
    broadcasts: BroadcastService,
    t: Translator,
) -> None:
    message = _message(query)
    draft = await broadcasts.get_draft(query.from_user.id, callback_data.draft)
    if message is None or draft is None or draft.status.value != "draft":
        await query.answer(t.plain("broadcast.already"))
        return
    await query.answer()
    await state.set_state(Compose.send_time)
    await state.update_data(bc_draft=draft.id, bc_options=message.message_id)
    tz = draft.cohort.timezone if draft.cohort else broadcasts.default_timezone
    await message.answer(t("broadcast.ask_time", tz=tz))


@router.message(Compose.send_time, ~F.text.startswith("/"))
async def time_given(
    message: Message, state: FSMContext, broadcasts: BroadcastService, t: Translator
) -> None:
    assert message.from_user is not None
    data = await state.get_data()
    draft = await broadcasts.get_draft(message.from_user.id, int(data.get("bc_draft", 0)))
    if draft is None:
        await state.set_state(None)
        await message.answer(t("broadcast.already"))
        return
    tz = draft.cohort.timezone if draft.cohort else broadcasts.default_timezone
    now_local = broadcasts.now().astimezone(ZoneInfo(tz))
    when = parse_send_time(message.text or "", now_local)
    if when is None:
        await message.answer(t("broadcast.bad_time"))
        return
    result = await broadcasts.confirm(message.from_user.id, draft.id, when)
    if result.outcome is ConfirmOutcome.IN_THE_PAST:
        await message.answer(t("broadcast.past_time"))
        return
    await state.set_state(None)
    if result.outcome is not ConfirmOutcome.SCHEDULED:
        await message.answer(t("broadcast.already"))
        return
    options = data.get("bc_options")
    if options and message.bot is not None:
        await message.bot.edit_message_reply_markup(
            chat_id=message.chat.id, message_id=int(options), reply_markup=None
        )
    quiet = await broadcasts.quiet_until(draft.cohort, when)
    await message.answer(
        t(
            "broadcast.scheduled",
            when=t.moment(when, tz),
            count=result.recipients,
            quiet=t.moment(quiet, tz) if quiet else "",
        )
    )


@router.callback_query(BroadcastCB.filter(F.action == "cancel"))
async def cancel(
    query: CallbackQuery,
    callback_data: BroadcastCB,
    state: FSMContext,
    broadcasts: BroadcastService,
    t: Translator,
) -> None:
    message = _message(query)
    if message is None or not await broadcasts.cancel(query.from_user.id, callback_data.draft):
        await query.answer(t.plain("broadcast.already"))
        return
    await query.answer()
    await state.set_state(None)
    await keyboards.drop_buttons(message)
    await message.answer(t("broadcast.cancelled"))


@router.message(Command("broadcasts"))
async def history(message: Message, broadcasts: BroadcastService, t: Translator) -> None:
    assert message.from_user is not None
    if await broadcasts.cohorts_of(message.from_user.id) is None:
        await message.answer(t("broadcast.not_organiser"))
        return
    items = await broadcasts.history(message.from_user.id)
    if not items:
        await message.answer(t("broadcast.list_empty"))
        return
    lines = [t("broadcast.list_header")]
    for item in items:
        when = item.scheduled_at or item.created_at
        lines.append(
            t(
                "broadcast.list_item",
                id=item.id,
                when=t.moment(when, broadcasts.default_timezone),
                audience=(item.cohort or t.plain("broadcast.all_cohorts"))
                + " · "
                + t.plain(f"broadcast.audience_{item.audience.value}"),
                status=t.plain(f"broadcast.status_{item.status.value}"),
                sent=item.counts.get("sent", 0),
                total=item.total,
                blocked=item.counts.get("blocked", 0),
                failed=item.counts.get("failed", 0),
                ack=item.ack_requested,
                acked=item.acked,
                excerpt=excerpt(item.excerpt),
            )
        )
    await message.answer("\n".join(lines))


@router.callback_query(AckCB.filter())
async def acknowledged(
    query: CallbackQuery, callback_data: AckCB, broadcasts: BroadcastService, t: Translator
) -> None:
    outcome = await broadcasts.acknowledge(query.from_user.id, callback_data.broadcast_id)
    if outcome is AckOutcome.NOT_RECIPIENT:
        await query.answer(t.plain("problem.stale_button"))
        return
    if outcome is AckOutcome.ALREADY:
        await query.answer(t.plain("broadcast.ack_already"))
        return
    await query.answer(t.plain("broadcast.ack_thanks"))
    message = _message(query)
    if message is not None:
        await message.edit_reply_markup(
            reply_markup=_ack_keyboard(callback_data.broadcast_id, t, "broadcast.ack_done_button")
        )


def _message(query: CallbackQuery) -> Message | None:
    message = query.message
    if message is None or isinstance(message, InaccessibleMessage):
        return None
    return message
