"""Enrolment through invite links, driven over HTTP as a phone would, through every branch."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.content import load_texts
from bot.db.models import AuditEntry, Enrolment, MentorProfile, User
from bot.sandbox.client import ChatMessage, EmulatorClient
from bot.telegram_html import parse_html
from tests.e2e.harness import Phone, RunningBot, enrol

pytestmark = pytest.mark.e2e

TEXTS = load_texts(Path(__file__).resolve().parents[2] / "content")


def says(key: str, locale: str = "zh-CN", **params: Any) -> str:
    """What a phone shows for a content message: the plain text after Telegram's HTML."""
    return parse_html(TEXTS.render(locale, key, **params)).text


async def make_cohort(running: RunningBot, **kw: Any) -> tuple[str, str]:
    created = await running.core.services.cohorts.create(
        name=kw.pop("name", "2026秋季社区书记班"),
        course_title="基层治理能力提升专题培训",
        ends_on=kw.pop("ends_on", date(2026, 12, 1)),
        timezone="Asia/Shanghai",
        **kw,
    )
    return created.trainee_invite.code, created.mentor_invite.code


async def rows(running: RunningBot, model: type, *where: Any) -> list[Any]:
    async with running.core.uow() as uow:
        return list((await uow.session.scalars(select(model).where(*where))).all())


async def count(running: RunningBot, model: type) -> int:
    async with running.core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def enrol_trainee(phone: Phone, code: str, name: str = "张三") -> None:
    notice = await phone.say(f"/start {code}")
    assert notice.has_button("同意")
    await phone.tap("同意并继续", on=notice)
    assert (await phone.next_message()).text == says("ask.name", limit=32)
    await phone.say(name)
    await phone.tap_then_read("社区（居委会）")
    await phone.say("和平里社区")
    await phone.say("东城区")
    welcome = await phone.say("网格员")
    assert welcome.text is not None and "报名完成" in welcome.text


async def test_trainee_enrols_through_every_step(
    running: RunningBot, client: EmulatorClient
) -> None:
    code, _ = await make_cohort(running)
    phone = Phone(client, 1001)
    await client.add_user(1001, "三", last_name="张")

    notice = await phone.say(f"/start {code}")
    assert notice.text is not None
    assert "2026秋季社区书记班" in notice.text and "个人信息告知" in notice.text
    assert "/delete_my_data" in notice.text
    assert notice.button_texts == ["✅ 同意并继续", "不同意"]
    assert await count(running, User) == 0, "nothing is stored before consent"

    await phone.tap("同意并继续", on=notice)
    assert (await phone.next_message()).text == says("ask.name", limit=32)
    # The consent buttons are gone, so consent can't be given twice.
    first = (await client.bot_messages(1001))[0]
    assert first.message_id == notice.message_id and not first.buttons

    unit_question = await phone.say("张三")
    assert unit_question.text == says("ask.unit_type")
    assert unit_question.button_texts == ["社区（居委会）", "村", "街道 / 乡镇"]
    ask_unit_name = await phone.tap_then_read("社区（居委会）", on=unit_question)
    assert ask_unit_name.text == says(
        "ask.unit_name", unit_type="社区（居委会）", example="和平里社区"
    )
    assert (await phone.say("和平里社区")).text == says("ask.district", limit=40)
    assert (await phone.say("东城区")).text == says("ask.position")
    welcome = await phone.say("网格员")
    assert welcome.text == says(
        "welcome.trainee", cohort="2026秋季社区书记班", ends_on="2026年12月1日"
    )

    [user] = await rows(running, User, User.telegram_id == 1001)
    assert (user.full_name, user.unit_type, user.unit_name, user.district, user.position) == (
        "张三",
        "community",
        "和平里社区",
        "东城区",
        "网格员",
    )
    assert user.consent_at is not None and user.locale == "zh-CN"
    [enrolment] = await rows(running, Enrolment, Enrolment.user_id == user.id)
    assert (enrolment.role, enrolment.status) == ("trainee", "active")
    actions = [
        a.action for a in await rows(running, AuditEntry, AuditEntry.actor_user_id == user.id)
    ]
    assert actions == ["consent_given", "enrolled"]

    me = await phone.say("/me")
    assert me.text is not None and "张三" in me.text and "和平里社区" in me.text
    assert "所在区县：东城区" in me.text
    # A trainee may change the district, and has no strengths or bio to change.
    assert me.button_texts == ["修改所在区县"]
    help_text = await phone.say("/help")
    assert help_text.text is not None and "/mydata" in help_text.text
    back = await phone.say("/start")
    assert back.text is not None and back.text.startswith("张三，欢迎回来")


async def mentor_up_to_areas(phone: Phone, code: str) -> ChatMessage:
    notice = await phone.say(f"/start {code}")
    await phone.tap("同意并继续", on=notice)
    await phone.next_message()
    await phone.say("王五")
    await phone.tap_then_read("街道 / 乡镇")
    await phone.say("东城街道")
    await phone.say("东城区")
    return await phone.say("党工委书记")


async def mentor_up_to_strengths(phone: Phone, code: str) -> ChatMessage:
    areas = await mentor_up_to_areas(phone, code)
    await phone.tap("加装电梯", on=areas)
    edited = await phone.wait_for(lambda m: m.event == "edit" and m.has_button("✅ 加装电梯"))
    capacity = await phone.tap_then_read("完成", on=edited)
    return await phone.tap_then_read("3", on=capacity)


async def test_mentor_enrols_with_areas_capacity_strengths_and_bio(
    running: RunningBot, client: EmulatorClient
) -> None:
    _, mentor_code = await make_cohort(running)
    phone = Phone(client, 2001)
    notice = await phone.say(f"/start {mentor_code}")
    assert notice.text is not None and "治理导师" in notice.text and "擅长领域" in notice.text
    assert "所在区县" in notice.text and "个人简介" in notice.text
    await phone.tap("同意并继续", on=notice)
    await phone.next_message()
    await phone.say("王五")
    await phone.tap_then_read("街道 / 乡镇")
    assert (await phone.say("东城街道")).text == says("ask.district", limit=40)
    await phone.say("东城区")
    areas = await phone.say("党工委书记")
    assert areas.text == says("ask.mentor_areas", max=5)
    assert len(areas.all_buttons) == len(TEXTS.areas) + 1

    # "Done" with nothing chosen is refused with an alert, and nothing moves on.
    assert await phone.tap_for_toast("完成", on=areas) == says("problem.areas_empty")
    await phone.tap("加装电梯", on=areas)
    edited = await phone.wait_for(lambda m: m.event == "edit" and m.has_button("✅ 加装电梯"))
    await phone.tap("矛盾调解", on=edited)
    edited = await phone.wait_for(lambda m: m.event == "edit" and m.has_button("✅ 矛盾调解"))
    capacity = await phone.tap_then_read("完成", on=edited)
    assert capacity.text == says("ask.mentor_capacity", max=30)
    strengths = await phone.tap_then_read("5", on=capacity)
    assert strengths.text == says("ask.mentor_strengths", max=3)
    assert strengths.button_texts == [s.labels["zh-CN"] for s in TEXTS.strengths] + ["选好了"]

    # At least one strength: "done" with none is refused with an alert.
    assert await phone.tap_for_toast("选好了", on=strengths) == says("problem.strengths_empty")
    await phone.tap("工作反馈与辅导", on=strengths)
    edited = await phone.wait_for(lambda m: m.event == "edit" and m.has_button("✅ 工作反馈"))
    await phone.tap("争取领导支持", on=edited)
    edited = await phone.wait_for(lambda m: m.event == "edit" and m.has_button("✅ 争取领导"))
    await phone.tap("增强信心与能力", on=edited)
    edited = await phone.wait_for(lambda m: m.event == "edit" and m.has_button("✅ 增强信心"))
    # A fourth is one too many: told so, nothing changes.
    assert await phone.tap_for_toast("内容落地", on=edited) == says("problem.strengths_max", max=3)
    # Typing before "done": not taken as the bio.
    assert (await phone.say("我是王五")).text == says("problem.strengths_done_first")
    again = await phone.next_message()
    assert again.text == says("ask.mentor_strengths", max=3) and again.has_button("✅ 增强信心")
    await phone.tap("增强信心与能力", on=again)
    await phone.wait_for(
        lambda m: m.event == "edit" and m.has_button("增强信心") and not m.has_button("✅ 增强信心")
    )
    bio = await phone.tap_then_read("选好了", on=again)
    assert bio.text == says("ask.mentor_bio", limit=200)
    assert bio.button_texts == ["跳过"]
    welcome = await phone.say("在东城街道工作十五年，牵头过老旧小区改造。")
    assert welcome.text is not None
    assert "加装电梯、矛盾调解" in welcome.text and "5 名" in welcome.text
    assert "争取领导支持、工作反馈与辅导" in welcome.text

    [user] = await rows(running, User, User.telegram_id == 2001)
    assert user.district == "东城区"
    [profile] = await rows(running, MentorProfile, MentorProfile.user_id == user.id)
    assert (profile.areas, profile.capacity) == (["elevator", "mediation"], 5)
    assert profile.strengths == ["leader_support", "coaching"]
    assert profile.bio == "在东城街道工作十五年，牵头过老旧小区改造。"
    [enrolment] = await rows(running, Enrolment, Enrolment.user_id == user.id)
    assert (enrolment.role, enrolment.status) == ("mentor", "active")


async def test_start_without_code_and_with_bad_codes(
    running: RunningBot, client: EmulatorClient
) -> None:
    code, _ = await make_cohort(running)
    phone = Phone(client, 3001)
    assert (await phone.say("/start")).text == says("start.no_code")
    assert (await phone.say("/start hello")).text == says("invite.malformed")
    assert (await phone.say("/start ZZZZZZZZZZ")).text == says("invite.not_found")
    # Codes survive being typed in lower case with a dash.
    typed = f"{code[:5].lower()}-{code[5:].lower()}"
    assert (await phone.say(f"/start {typed}")).has_button("同意")
    assert await count(running, User) == 0


async def test_expired_code(running: RunningBot, client: EmulatorClient) -> None:
    code, _ = await make_cohort(running, ends_on=date(2026, 11, 30))
    phone = Phone(client, 3002)
    notice = await phone.say(f"/start {code}")
    # The person reads the notice for weeks: the code expires before they agree.
    running.clock.advance(timedelta(days=30))
    await phone.tap("同意并继续", on=notice)
    assert (await phone.next_message()).text == says("invite.expired")
    assert (await phone.say(f"/start {code}")).text == says("invite.expired")
    assert await count(running, User) == 0


async def test_used_up_code(running: RunningBot, client: EmulatorClient) -> None:
    code, _ = await make_cohort(running, trainee_limit=1)
    await enrol_trainee(Phone(client, 3003), code)
    late = Phone(client, 3004)
    assert (await late.say(f"/start {code}")).text == says("invite.used_up")
    assert await count(running, Enrolment) == 1


async def test_second_enrolment_is_refused_politely(
    running: RunningBot, client: EmulatorClient
) -> None:
    code, _ = await make_cohort(running)
    phone = Phone(client, 3005)
    await enrol_trainee(phone, code)
    again = await phone.say(f"/start {code}")
    assert again.text == says("invite.already_enrolled", cohort="2026秋季社区书记班")
    assert await count(running, Enrolment) == 1


async def test_refusing_consent_stores_nothing(running: RunningBot, client: EmulatorClient) -> None:
    code, _ = await make_cohort(running)
    phone = Phone(client, 3006)
    notice = await phone.say(f"/start {code}")
    declined = await phone.tap_then_read("不同意", on=notice)
    assert declined.text == says("consent.declined")
    assert await count(running, User) == 0
    assert (await phone.say("/me")).text == says("me.none")


async def test_bad_input_gets_a_clear_answer_and_loses_nothing(
    running: RunningBot, client: EmulatorClient
) -> None:
    code, _ = await make_cohort(running)
    phone = Phone(client, 3007)
    notice = await phone.say(f"/start {code}")
    await phone.tap("同意并继续", on=notice)
    await phone.next_message()
    assert (await phone.say("名" * 33)).text == says("problem.too_long", limit=32)
    assert (await phone.say("12345")).text == says("problem.not_text")
    await client.send(3007, sticker={"emoji": "👍"})
    assert (await phone.next_message()).text == says("problem.need_text")
    # A command in the middle works and the conversation goes on where it was.
    assert (await phone.say("/help")).text is not None
    assert (await phone.say("李四")).text == says("ask.unit_type")
    # Typing where a button is expected: told to use the buttons, asked again.
    assert (await phone.say("社区")).text == says("problem.use_buttons")
    assert (await phone.next_message()).text == says("ask.unit_type")
    [user] = await rows(running, User, User.telegram_id == 3007)
    assert user.full_name == "李四" and user.unit_type is None


async def test_stale_and_forged_buttons_change_nothing(
    running: RunningBot, client: EmulatorClient
) -> None:
    code, _ = await make_cohort(running)
    phone = Phone(client, 3008)
    await enrol_trainee(phone, code)
    last = await client.last_bot_message(3008)
    assert last is not None
    toast = await phone.tap_for_toast(on=last, data="ut:village", forge=True)
    assert toast == says("problem.stale_button")
    assert await phone.tap_for_toast(on=last, data="zz:nonsense", forge=True) == says(
        "problem.stale_button"
    )
    [user] = await rows(running, User, User.telegram_id == 3008)
    assert user.unit_type == "community"


async def test_language_switch_before_and_after_consent(
    running: RunningBot, client: EmulatorClient
) -> None:
    code, _ = await make_cohort(running)
    phone = Phone(client, 3009)
    choose = await phone.say("/lang")
    assert choose.button_texts == ["中文", "English"]
    assert (await phone.tap_then_read("English", on=choose)).text == says("lang.switched", "en")
    assert await count(running, User) == 0, "a language choice is not a reason to store a person"
    notice = await phone.say(f"/start {code}")
    assert notice.text is not None and "Personal information notice" in notice.text
    await phone.tap("I agree", on=notice)
    assert (await phone.next_message()).text == says("ask.name", "en", limit=32)
    [user] = await rows(running, User, User.telegram_id == 3009)
    assert user.locale == "en"
    assert (await phone.say("/lang zh")).text == says("lang.switched")
    assert (await phone.say("王小明")).text == says("ask.unit_type")


async def test_half_answered_enrolment_resumes_after_restart(
    running: RunningBot, client: EmulatorClient
) -> None:
    code, _ = await make_cohort(running)
    phone = Phone(client, 3010)
    notice = await phone.say(f"/start {code}")
    await phone.tap("同意并继续", on=notice)
    await phone.next_message()
    await phone.say("赵六")
    await running.restart()
    # After the restart the next text answers the open question (the FSM state is rebuilt
    # from the database), and /start says where we are.
    resumed = await phone.say("/start")
    assert resumed.text == says("start.resume")
    assert (await phone.next_message()).text == says("ask.unit_type")
    await phone.tap_then_read("村")
    await running.restart()
    assert (await phone.say("李家村")).text == says("ask.district", limit=40)
    await running.restart()
    assert (await phone.say("西城区")).text == says("ask.position")


async def test_opening_the_link_again_mid_way_resumes(
    running: RunningBot, client: EmulatorClient
) -> None:
    code, _ = await make_cohort(running)
    phone = Phone(client, 3013)
    notice = await phone.say(f"/start {code}")
    await phone.tap("同意并继续", on=notice)
    await phone.next_message()
    await phone.say("吴十")
    assert (await phone.say(f"/start {code}")).text == says("start.resume")
    assert (await phone.next_message()).text == says("ask.unit_type")
    assert await count(running, Enrolment) == 1


async def test_messages_arriving_together_advance_one_step_each(
    running: RunningBot, client: EmulatorClient
) -> None:
    code, _ = await make_cohort(running)
    phone = Phone(client, 3011)
    notice = await phone.say(f"/start {code}")
    await phone.tap("同意并继续", on=notice)
    await phone.next_message()
    await phone.say("钱七")
    await phone.tap_then_read("街道 / 乡镇")
    # Three answers typed quickly: workplace, district, position. Each send returns once the
    # emulator has queued the message, so all three are waiting before the bot answers the
    # first, and their order is the typing order (concurrent sends would race for update ids).
    for text in ("东城街道", "东城区", "副主任"):
        await phone.send(text)
    await phone.wait_for(lambda m: m.text is not None and "报名完成" in m.text)
    [user] = await rows(running, User, User.telegram_id == 3011)
    assert (user.unit_name, user.district, user.position) == ("东城街道", "东城区", "副主任")


async def test_my_data_export_and_deletion(running: RunningBot, client: EmulatorClient) -> None:
    code, _ = await make_cohort(running)
    phone = Phone(client, 3012)
    await enrol_trainee(phone, code, name="孙八")
    document = await phone.say("/mydata")
    assert document.document is not None
    assert document.document["file_name"] == "xueyong-my-data.json"
    confirm = await phone.say("/delete_my_data")
    assert confirm.button_texts == ["确认删除", "取消"]
    assert (await phone.tap_then_read("取消", on=confirm)).text == says("delete.kept")
    confirm = await phone.say("/delete_my_data")
    assert (await phone.tap_then_read("确认删除", on=confirm)).text == says("delete.done")
    [user] = await rows(running, User, User.telegram_id == 3012)
    assert (user.full_name, user.unit_name, user.position, user.consent_at) == (None,) * 4
    [enrolment] = await rows(running, Enrolment, Enrolment.user_id == user.id)
    assert enrolment.status == "left"
    assert (await phone.say("/me")).text == says("me.none")
    erased = await rows(running, AuditEntry, AuditEntry.action == "personal_data_erased")
    assert len(erased) == 1


async def test_command_menu_is_set_in_both_languages(
    running: RunningBot, client: EmulatorClient
) -> None:
    default = running.emulator.commands(language_code="")
    english = running.emulator.commands(language_code="en")
    assert [c["command"] for c in default][:5] == ["start", "help", "plan", "reflect", "check"]
    assert default[1]["description"] == "使用帮助"
    assert english[1]["description"] == "Help"


def names(commands: list[dict[str, Any]]) -> list[str]:
    return [c["command"] for c in commands]


async def test_each_role_sees_its_own_commands_in_the_menu(
    running: RunningBot, client: EmulatorClient
) -> None:
    """Trainees (and people not enrolled yet) get the default menu, without the organisers'
    and mentors' commands that would only refuse them; a mentor's and an organiser's chats
    get menus of their own, in their language, once their roles show."""
    emulator = running.emulator
    default = names(emulator.commands(language_code=""))
    assert {"plan", "reflect", "check", "practice", "portfolio", "help"} <= set(default)
    assert not {"broadcast", "broadcasts", "report", "match", "digest", "log"} & set(default)

    organiser, trainee, mentor = 3301, 3302, 3303
    code, mentor_code = await make_cohort(running, organiser_telegram_ids=(organiser,))
    await enrol(running.core, trainee, code, "张三")
    await enrol(running.core, mentor, mentor_code, "王书记")
    for person in (organiser, trainee, mentor):
        await client.add_user(person, f"用户{person}")
        await Phone(client, person).say("/help")

    def menu(person: int) -> list[str]:
        return names(emulator.menu(person, "zh"))

    async def changed(person: int, before: list[str]) -> list[str]:
        """The menu once it is no longer `before`: it is set after the reply went out."""
        for _ in range(200):
            if menu(person) != before:
                return menu(person)
            await asyncio.sleep(0.01)
        return menu(person)

    assert menu(trainee) == default
    assert emulator.commands({"type": "chat", "chat_id": trainee}) == []  # no call for them
    assert await changed(mentor, default) == [
        "start", "help", "cases", "me", "lang", "cancel", "mydata", "delete_my_data",
        "digest", "log",
    ]  # fmt: skip
    assert await changed(organiser, default) == [
        "start", "help", "cases", "me", "lang", "cancel", "mydata", "delete_my_data",
        "broadcast", "broadcasts", "report", "match", "digest",
    ]  # fmt: skip
    [broadcast] = [c for c in emulator.menu(organiser, "zh") if c["command"] == "broadcast"]
    assert broadcast["description"] == running.core.texts.plain("zh-CN", "commands.broadcast")

    # The organiser switches to English: the menu follows at the next update.
    await Phone(client, organiser).say("/lang")
    await Phone(client, organiser).tap("English")
    await client.settle(organiser, quiet=0.3)
    chinese = emulator.menu(organiser, "zh")
    await Phone(client, organiser).say("/help")
    for _ in range(200):
        if emulator.menu(organiser, "zh") != chinese:
            break
        await asyncio.sleep(0.01)
    [help_] = [c for c in emulator.menu(organiser, "zh") if c["command"] == "help"]
    assert help_["description"] == running.core.texts.plain("en", "commands.help")


async def test_district_bad_input_gets_a_clear_answer(
    running: RunningBot, client: EmulatorClient
) -> None:
    code, _ = await make_cohort(running)
    phone = Phone(client, 3020)
    notice = await phone.say(f"/start {code}")
    await phone.tap("同意并继续", on=notice)
    await phone.next_message()
    await phone.say("周九")
    await phone.tap_then_read("社区（居委会）")
    assert (await phone.say("和平里社区")).text == says("ask.district", limit=40)
    assert (await phone.say("区" * 41)).text == says("problem.too_long", limit=40)
    assert (await phone.say("\u200b")).text == says("problem.empty")
    assert (await phone.say("100010")).text == says("problem.not_text")
    await client.send(3020, sticker={"emoji": "🏙"})
    assert (await phone.next_message()).text == says("problem.need_text")
    [user] = await rows(running, User, User.telegram_id == 3020)
    assert user.district is None and user.unit_name == "和平里社区"
    # A command in the middle works, and the district is still the open question.
    assert (await phone.say("/help")).text is not None
    assert (await phone.say("  北京市 东城区 ")).text == says("ask.position")
    [user] = await rows(running, User, User.telegram_id == 3020)
    assert user.district == "北京市 东城区"


async def test_bio_skip_and_bio_too_long(running: RunningBot, client: EmulatorClient) -> None:
    _, mentor_code = await make_cohort(running)
    skipper, writer = Phone(client, 2002), Phone(client, 2003)

    strengths = await mentor_up_to_strengths(skipper, mentor_code)
    await skipper.tap("创造实践机会", on=strengths)
    await skipper.wait_for(lambda m: m.event == "edit" and m.has_button("✅ 创造实践机会"))
    bio = await skipper.tap_then_read("选好了", on=strengths)
    welcome = await skipper.tap_then_read("跳过", on=bio)
    assert welcome.text is not None and "欢迎您担任" in welcome.text
    # The skip button is gone, and pressing it again (forged) changes nothing.
    assert await skipper.tap_for_toast(on=bio, data="enbi", forge=True) == says(
        "problem.stale_button"
    )
    [user] = await rows(running, User, User.telegram_id == 2002)
    [profile] = await rows(running, MentorProfile, MentorProfile.user_id == user.id)
    assert (profile.strengths, profile.bio) == (["opportunity"], "")
    [enrolment] = await rows(running, Enrolment, Enrolment.user_id == user.id)
    assert enrolment.status == "active"
    me = await skipper.say("/me")
    assert (
        me.text is not None
        and "个人简介：未填写" in me.text
        and "擅长辅导：创造实践机会" in me.text
    )

    strengths = await mentor_up_to_strengths(writer, mentor_code)
    await writer.tap("团队协作", on=strengths)
    await writer.wait_for(lambda m: m.event == "edit" and m.has_button("✅ 团队协作"))
    await writer.tap_then_read("选好了", on=strengths)
    assert (await writer.say("字" * 201)).text == says("problem.too_long", limit=200)
    assert (await writer.say("见 https://example.com/me")).text == says("problem.not_text")
    [user] = await rows(running, User, User.telegram_id == 2003)
    [profile] = await rows(running, MentorProfile, MentorProfile.user_id == user.id)
    assert profile.bio is None
    welcome = await writer.say("字" * 200)
    assert welcome.text is not None and "欢迎您担任" in welcome.text
    [profile] = await rows(running, MentorProfile, MentorProfile.user_id == user.id)
    assert profile.bio == "字" * 200


async def test_mentor_resumes_strengths_and_bio_after_restart(
    running: RunningBot, client: EmulatorClient
) -> None:
    _, mentor_code = await make_cohort(running)
    phone = Phone(client, 2004)
    strengths = await mentor_up_to_strengths(phone, mentor_code)
    assert strengths.text == says("ask.mentor_strengths", max=3)
    await running.restart()
    assert (await phone.say("/start")).text == says("start.resume")
    asked = await phone.next_message()
    assert asked.text == says("ask.mentor_strengths", max=3)
    await phone.tap("激发动力与认可", on=asked)
    await phone.wait_for(lambda m: m.event == "edit" and m.has_button("✅ 激发动力"))
    await running.restart()
    # One strength was saved before the restart: the bio is the open question now.
    assert (await phone.say("/start")).text == says("start.resume")
    bio = await phone.next_message()
    assert bio.text == says("ask.mentor_bio", limit=200)
    welcome = await phone.say("十年社区工作经验")
    assert welcome.text is not None and "激发动力与认可" in welcome.text
    [user] = await rows(running, User, User.telegram_id == 2004)
    [profile] = await rows(running, MentorProfile, MentorProfile.user_id == user.id)
    assert (profile.strengths, profile.bio) == (["motivation"], "十年社区工作经验")


async def test_someone_enrolled_before_districts_adds_one_from_me(
    running: RunningBot, client: EmulatorClient
) -> None:
    code, _ = await make_cohort(running)
    phone = Phone(client, 3021)
    await enrol_trainee(phone, code, name="郑十")
    [user] = await rows(running, User, User.telegram_id == 3021)
    async with running.core.uow() as uow:  # as if they enrolled before districts were asked
        (await uow.users.by_telegram_id(3021)).district = None  # type: ignore[union-attr]
        await uow.commit()

    # Not sent back into enrolment: their next message is not taken as a district.
    assert (await phone.say("你好")).text == says("unknown")
    me = await phone.say("/me")
    assert me.text is not None and "所在区县：未填写" in me.text
    assert me.button_texts == ["填写所在区县"]
    ask = await phone.tap_then_read("填写所在区县", on=me)
    assert ask.text == says("me.ask_district", limit=40)
    assert (await phone.say("区" * 41)).text == says("problem.too_long", limit=40)
    await client.send(3021, sticker={"emoji": "👍"})
    assert (await phone.next_message()).text == says("problem.need_text")
    saved = await phone.say("朝阳区")
    assert saved.text == says("me.district_saved", district="朝阳区")
    [user] = await rows(running, User, User.telegram_id == 3021)
    assert user.district == "朝阳区"
    me = await phone.say("/me")
    assert me.text is not None and "所在区县：朝阳区" in me.text
    assert me.button_texts == ["修改所在区县"]
    # /cancel leaves it as it is.
    await phone.tap_then_read("修改所在区县", on=me)
    assert (await phone.say("/cancel")).text == says("cancel.done")
    assert (await phone.say("海淀区")).text == says("unknown")
    [user] = await rows(running, User, User.telegram_id == 3021)
    assert user.district == "朝阳区"
    # A trainee forging the mentor's edit buttons changes nothing.
    for data in ("pred:s:", "pred:b:", "pred:t:coaching", "pred:c:", "pred:zz:"):
        assert await phone.tap_for_toast(on=me, data=data, forge=True) == says(
            "problem.stale_button"
        )
    assert await count(running, MentorProfile) == 0


async def test_mentor_edits_strengths_and_bio_from_me(
    running: RunningBot, client: EmulatorClient
) -> None:
    _, mentor_code = await make_cohort(running)
    phone = Phone(client, 2005)
    strengths = await mentor_up_to_strengths(phone, mentor_code)
    await phone.tap("争取领导支持", on=strengths)
    await phone.wait_for(lambda m: m.event == "edit" and m.has_button("✅ 争取领导支持"))
    bio = await phone.tap_then_read("选好了", on=strengths)
    await phone.tap_then_read("跳过", on=bio)

    me = await phone.say("/me")
    assert me.text is not None and "擅长辅导：争取领导支持" in me.text
    assert me.button_texts == ["修改所在区县", "修改擅长辅导", "修改简介"]
    edit = await phone.tap_then_read("修改擅长辅导", on=me)
    assert edit.text == says("me.ask_strengths", max=3) and edit.has_button("✅ 争取领导支持")
    # The last strength stays.
    assert await phone.tap_for_toast("争取领导支持", on=edit) == says("problem.strengths_keep_one")
    await phone.tap("内容落地", on=edit)
    edited = await phone.wait_for(lambda m: m.event == "edit" and m.has_button("✅ 课程内容落地"))
    await phone.tap("争取领导支持", on=edited)
    await phone.wait_for(
        lambda m: m.event == "edit" and m.has_button("争取领导") and not m.has_button("✅ 争取")
    )
    saved = await phone.tap_then_read("选好了", on=edited)
    assert saved.text == says("me.strengths_saved", strengths="课程内容落地")
    [user] = await rows(running, User, User.telegram_id == 2005)
    [profile] = await rows(running, MentorProfile, MentorProfile.user_id == user.id)
    assert profile.strengths == ["content_fit"]
    assert await phone.tap_for_toast(on=edited, data="pred:t:no_such", forge=True) == says(
        "problem.stale_button"
    )

    ask = await phone.tap_then_read("修改简介", on=me)
    assert ask.text == says("me.ask_bio", limit=200, bio="") and not ask.buttons
    assert (await phone.say("字" * 201)).text == says("problem.too_long", limit=200)
    assert (await phone.say("带过三期新任书记")).text == says("me.bio_saved")
    me = await phone.say("/me")
    assert me.text is not None and "个人简介：带过三期新任书记" in me.text
    ask = await phone.tap_then_read("修改简介", on=me)
    assert ask.text == says("me.ask_bio", limit=200, bio="带过三期新任书记")
    assert (await phone.tap_then_read("删除简介", on=ask)).text == says("me.bio_cleared")
    [profile] = await rows(running, MentorProfile, MentorProfile.user_id == user.id)
    assert profile.bio == ""
    # The prompt is closed: the next text is not a bio.
    assert (await phone.say("又一段")).text == says("unknown")
