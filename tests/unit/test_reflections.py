"""Pure parts of reflections: where a draft resumes, how stored answers read back, the
button data the service builds without aiogram, and the summary split at Telegram's limit."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.config import load_settings
from bot.content import Translator, load_texts
from bot.domain.model import CohortDTO
from bot.domain.notices import TEXT_LIMIT, telegram_length
from bot.services.reflections import (
    QUESTIONS,
    Answer,
    AnswerKind,
    Summary,
    resume_index,
    rs,
    stored_answers,
)
from handlers.callbacks import ReflectCB, ReflectStartCB
from handlers.reflect import pack, summary_messages, visible_length


def test_questions_are_the_four_of_the_issue() -> None:
    assert QUESTIONS == ("did", "happened", "learned", "next")


@pytest.mark.parametrize(
    ("answered", "expected"),
    [
        ([], 0),
        (["did"], 1),
        (["happened"], 2),  # "did" was skipped: go on after the last answer
        (["did", "learned"], 3),
        (["did", "happened", "learned", "next"], 4),  # nothing left: finish
        (["unknown"], 0),
    ],
)
def test_a_draft_resumes_after_its_last_answer(answered: list[str], expected: int) -> None:
    assert resume_index(answered) == expected


def test_stored_answers_read_back_in_question_order_and_ignore_junk() -> None:
    raw = {
        "next": {"kind": "text", "text": "下一步", "file_id": None},
        "did": {"kind": "voice", "text": None, "file_id": "F1"},
        "happened": {"kind": "sticker"},
        "extra": {"kind": "text", "text": "x"},
    }
    answers = stored_answers(raw)
    assert list(answers) == ["did", "next"]
    assert answers["did"] == Answer(AnswerKind.VOICE, None, "F1")
    assert stored_answers(None) == {}
    assert Answer(AnswerKind.PHOTO, "c", "P").as_json() == {
        "kind": "photo",
        "text": "c",
        "file_id": "P",
    }


def test_the_service_packs_start_buttons_as_aiogram_does() -> None:
    assert rs(0, 3) == ReflectStartCB(milestone=0, prompt=3).pack()
    assert rs(1234567, 0) == ReflectStartCB(milestone=1234567).pack()
    assert ReflectStartCB.unpack(rs(0, 8)) == ReflectStartCB(milestone=0, prompt=8)


def test_reflection_buttons_fit_telegrams_64_bytes() -> None:
    most = 2**31 - 1  # the largest id a button carries (ids are 32-bit in the schema)
    biggest = ReflectCB(a="new", r=most, c=most, p=52, m=most, q="happened").pack()
    assert len(biggest.encode()) <= 64
    with pytest.raises(ValueError):
        ReflectCB(a="new", r=most + 1)


def summary(text: str) -> Summary:
    return Summary(
        reflection_id=1,
        cohort=CohortDTO(1, "社区书记班", "课程", date(2026, 11, 30), "Asia/Shanghai"),
        prompt_number=2,
        milestone=None,
        answers=(
            ("did", Answer(AnswerKind.TEXT, text)),
            ("happened", Answer(AnswerKind.VOICE, "会上的录音", "V")),
            ("learned", None),
            ("next", Answer(AnswerKind.PHOTO, None, "P")),
        ),
        completed_at=datetime(2026, 12, 7, 3, 0, tzinfo=UTC),
    )


@pytest.fixture(scope="module")
def t() -> Translator:
    return Translator(load_texts(load_settings().content_dir), "zh-CN")


def test_a_short_summary_is_one_message(t: Translator) -> None:
    [message] = summary_messages(summary("组织了议事会 <b>"), t)
    assert "第 2 次" in message and "2026年12月7日 11:00" in message
    assert "<blockquote>组织了议事会 &lt;b&gt;</blockquote>" in message  # escaped, quoted
    assert "🎤 语音：会上的录音" in message and "📷 照片" in message
    assert "（跳过）" in message


def test_a_full_length_answer_gets_its_own_message_never_cut(t: Translator) -> None:
    text = "议" * TEXT_LIMIT
    messages = summary_messages(summary(text), t)
    assert all(visible_length(m) <= TEXT_LIMIT for m in messages)
    joined = "".join(messages)
    assert text in joined  # whole, not truncated
    assert any(m == f"<blockquote>{text}</blockquote>" for m in messages)


def test_pack_counts_what_telegram_counts() -> None:
    # Markup and entities do not count; emoji count two (UTF-16).
    assert visible_length("<b>a&amp;b</b>") == 3
    assert visible_length("👍") == telegram_length("👍") == 2
    assert pack(["a" * 10, "b" * 10], limit=22) == ["a" * 10 + "\n\n" + "b" * 10]
    assert pack(["a" * 10, "b" * 10], limit=21) == ["a" * 10, "b" * 10]
