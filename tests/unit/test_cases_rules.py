"""The case library's pure rules: pseudonyms, the published text, cutting long cases."""

from __future__ import annotations

import html

from bot.domain.cases import (
    choose_pseudonym,
    compose_body,
    fit,
    media_answers,
    page_count,
    paragraphs,
    pseudonym_candidates,
)
from bot.services.cases import body_parts, case_action
from handlers.callbacks import CaseCB


def _first(key: str, user_id: int, n: int) -> list[str]:
    out = []
    for code in pseudonym_candidates(key, user_id):
        out.append(code)
        if len(out) == n:
            return out
    return out


def test_pseudonym_is_a_short_code_stable_per_key_and_different_across_cohorts() -> None:
    code = choose_pseudonym("key-a", 42, None, set())
    assert code == choose_pseudonym("key-a", 42, None, set())
    assert code[0].isalpha() and code[0] not in "IO" and 1 <= int(code[1:]) <= 99
    # Another cohort (another key) gives, for most people, another code.
    others = {choose_pseudonym(f"key-{n}", 42, None, set()) for n in range(20)}
    assert len(others) > 10


def test_pseudonym_keeps_the_persons_own_and_avoids_everyone_elses() -> None:
    mine = choose_pseudonym("k", 1, None, set())
    assert choose_pseudonym("k", 1, "Z9", {mine}) == "Z9"  # what they have, they keep
    second = _first("k", 1, 2)[1]
    assert choose_pseudonym("k", 1, None, {mine}) == second
    # A cohort of 200 people: everybody gets a different code.
    taken: set[str] = set()
    for user_id in range(200):
        code = choose_pseudonym("k", user_id, None, taken)
        assert code not in taken
        taken.add(code)


def test_body_is_the_typed_answers_under_their_headings_in_order() -> None:
    answers = {
        "did": {"kind": "text", "text": "  做了A  "},
        "happened": {"kind": "voice", "text": "语音说明", "file_id": "V"},
        "learned": {"kind": "text", "text": ""},
        "next": {"kind": "text", "text": "试试B"},
        "extra": {"kind": "photo", "text": "照片说明", "file_id": "P"},
    }
    body = compose_body(answers, {"did": "我做了什么", "next": None})
    assert body == "【我做了什么】\n做了A\n\n试试B"
    assert compose_body({"a": {"kind": "voice", "file_id": "V"}}, {}) is None
    assert [m[1] for m in media_answers(answers)] == ["voice", "photo"]


def test_long_text_is_cut_between_paragraphs_lines_sentences_never_dropped() -> None:
    assert paragraphs("一\n\n二\n \n三") == ["一", "二", "三"]
    sentences = "这是一句话。" * 100  # 600 characters
    pieces = fit(sentences, 100)
    assert all(len(p) <= 100 for p in pieces) and "".join(pieces) == sentences
    assert all(p.endswith("。") for p in pieces)
    solid = "字" * 250
    assert fit(solid, 100) == ["字" * 100, "字" * 100, "字" * 50]
    # Measured as sent: HTML escaping makes "&" five characters long.
    escaped = body_parts("&" * 30, limit=50)
    assert all(len(p) <= 50 for p in escaped)
    assert html.unescape("".join(escaped)) == "&" * 30
    assert page_count(0, 5) == 1 and page_count(5, 5) == 1 and page_count(6, 5) == 2


def test_service_actions_pack_like_the_handlers_callback_data() -> None:
    packed = case_action("ok", i=17)
    assert packed == CaseCB(a="ok", i=17).pack()
    assert CaseCB.unpack(packed) == CaseCB(a="ok", c=0, i=17, v="")
    assert len(case_action("area", 99999, 999, "owners_committee").encode()) <= 64
