"""Every self-check message, rendered from content in both languages, fits Telegram.

The question message for every item of both forms, its buttons (label and callback data),
and the longest possible diagnosis (every factor a barrier, all follow-ups) once split.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.content import Translator, load_texts
from bot.content.ltsi import LtsiBank, load_ltsi
from bot.content.texts import LOCALES, Texts
from bot.domain.ltsi import FactorScore, WaveKind, split_messages
from bot.domain.model import CohortDTO
from bot.services.ltsi import Diagnosis, FollowUpKind, Question
from handlers.ltsi import MESSAGE_LIMIT, diagnosis_parts, question_view

ROOT = Path(__file__).resolve().parents[2]
CALLBACK_DATA_MAX = 64  # bytes
BUTTON_TEXT_MAX = 64  # characters shown comfortably on a phone


@pytest.fixture(scope="module")
def texts() -> Texts:
    return load_texts(ROOT / "content")


@pytest.fixture(scope="module")
def bank() -> LtsiBank:
    return load_ltsi(ROOT / "content")


def _visible(text: str) -> str:
    """What the phone shows: tags gone, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


@pytest.mark.parametrize("locale", LOCALES)
def test_every_question_message_fits(texts: Texts, bank: LtsiBank, locale: str) -> None:
    t = Translator(texts, locale)
    for wave, form in (
        (WaveKind.COURSE_END, bank.quick_form()),
        (WaveKind.DAY60, bank.full_form()),
    ):
        for position, item in enumerate(form):
            question = Question(
                response_id=2_147_483_647,  # the largest id a 32-bit key can reach
                wave=wave,
                position=position,
                total=len(form),
                item_id=item.id,
                chosen=3,
                closes_at=datetime(2027, 1, 1, tzinfo=UTC),
                timezone="Asia/Shanghai",
            )
            text, markup = question_view(question, bank, t)
            assert item.text(locale) in _visible(text)
            assert len(_visible(text)) <= MESSAGE_LIMIT
            buttons = [b for row in markup.inline_keyboard for b in row]
            assert len(buttons) == 7 if position else 6  # 5 answers, (back,) pause
            for button in buttons:
                assert button.callback_data is not None
                assert len(button.callback_data.encode()) <= CALLBACK_DATA_MAX
                assert 0 < len(button.text) <= BUTTON_TEXT_MAX
            assert sum(b.text.startswith("✓") for b in buttons) == 1


@pytest.mark.parametrize("locale", LOCALES)
def test_the_longest_diagnosis_is_split_between_entries(
    texts: Texts, bank: LtsiBank, locale: str
) -> None:
    t = Translator(texts, locale)
    barriers = tuple(FactorScore(f.id, f.group, 1.0) for f in bank.factors)
    diagnosis = Diagnosis(
        response_id=1,
        wave=WaveKind.DAY60,
        cohort=CohortDTO(
            id=1,
            name="班" * 100,
            course_title="课" * 200,
            ends_on=date(2026, 11, 30),
            timezone="Asia/Shanghai",
        ),
        trainee_name="张" * 64,
        factors={f.id: 1.0 for f in bank.factors},
        groups={g.id: 1.0 for g in bank.groups},
        previous_wave=WaveKind.DAY30,
        previous_factors={f.id: 5.0 for f in bank.factors},
        previous_groups={g.id: 5.0 for g in bank.groups},
        barriers=barriers,
        catalysts=(),
        thresholds=(2.5, 4.0),
        follow_ups={kind: ("supervisor_support",) for kind in FollowUpKind},
        completed_at=datetime(2027, 1, 30, tzinfo=UTC),
    )
    parts = diagnosis_parts(diagnosis, bank, t)
    messages = split_messages(parts, MESSAGE_LIMIT)
    assert all(len(m) <= MESSAGE_LIMIT for m in messages)
    if locale == "en":  # 16 barriers with suggestions do not fit one English message
        assert len(messages) >= 2
    joined = _visible("\n\n".join(messages))
    for factor in bank.factors:
        assert factor.suggestion(locale) in joined
    for part in parts:  # no entry was cut
        assert any(part in message for message in messages)
