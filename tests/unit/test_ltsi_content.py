"""The shipped LTSI item bank loads and fits Telegram; a broken copy names its file and key."""

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from bot.content import ContentError
from bot.content.ltsi import ITEM_TEXT_MAX, LtsiBank, LtsiForm, load_ltsi
from bot.content.texts import LOCALES
from bot.domain.ltsi import LtsiAction, classify, score

CONTENT = Path(__file__).resolve().parents[2] / "content"

GROUPS = {
    "ability": {"content_validity", "transfer_design", "personal_capacity", "opportunity_to_use"},
    "motivation": {"motivation_to_transfer", "effort_performance", "performance_outcomes"},
    "work_environment": {
        "supervisor_support",
        "supervisor_sanctions",
        "peer_support",
        "positive_outcomes",
        "negative_outcomes",
        "openness_to_change",
        "performance_coaching",
    },
    "secondary": {"learner_readiness", "self_efficacy"},
}


@pytest.fixture(scope="module")
def bank() -> LtsiBank:
    return load_ltsi(CONTENT)


def test_sixteen_factors_in_four_groups(bank: LtsiBank) -> None:
    assert [g.id for g in bank.groups] == list(GROUPS)
    assert len(bank.factors) == 16
    for group_id, factor_ids in GROUPS.items():
        assert {f.id for f in bank.factors_of(group_id)} == factor_ids
    assert bank.factor("supervisor_support").group == "work_environment"
    with pytest.raises(KeyError):
        bank.factor("nope")


def test_quick_form_has_one_item_per_factor_in_factor_order(bank: LtsiBank) -> None:
    quick = bank.quick_form()
    assert len(quick) == 16
    assert [i.factor for i in quick] == [f.id for f in bank.factors]
    assert all(LtsiForm.QUICK in i.forms for i in quick)


def test_full_form_has_three_items_per_factor_interleaved(bank: LtsiBank) -> None:
    full = bank.full_form()
    assert len(full) == 48
    assert len({i.id for i in full}) == 48
    assert Counter(i.factor for i in full) == {f.id: 3 for f in bank.factors}
    factor_order = [f.id for f in bank.factors]
    assert [i.factor for i in full] == factor_order * 3
    assert bank.form("full") == full
    assert bank.form(LtsiForm.QUICK) == bank.quick_form()


def test_every_item_has_both_languages_within_limits(bank: LtsiBank) -> None:
    for item in bank.items:
        for locale in LOCALES:
            text = item.texts[locale]
            assert text.strip() == text and text
            assert len(text) <= ITEM_TEXT_MAX, item.id
            assert not re.search(r"[<>&]", text), item.id
        assert re.search(r"[\u4e00-\u9fff]", item.text("zh-CN")), item.id
        assert not re.search(r"[\u4e00-\u9fff]", item.text("en")), item.id
        assert len(f"lt:{item.id}:5".encode()) <= 64


def test_factor_texts_in_both_languages(bank: LtsiBank) -> None:
    for factor in bank.factors:
        for locale in LOCALES:
            assert factor.name(locale)
            assert factor.description(locale)
            assert factor.suggestion(locale)
    for group in bank.groups:
        assert group.name("zh-CN") and group.name("en")
    assert bank.factor("self_efficacy").name(None) == bank.factor("self_efficacy").name("zh-CN")


def test_reverse_keying(bank: LtsiBank) -> None:
    """The brief's two reverse factors are reverse throughout; elsewhere a few items are."""
    reverse_factors = ("supervisor_sanctions", "negative_outcomes")
    for factor in reverse_factors:
        assert all(i.reverse for i in bank.items_of(factor, LtsiForm.FULL))
        assert all(i.reverse for i in bank.items_of(factor, LtsiForm.QUICK))
    others = [i for i in bank.items if i.reverse and i.factor not in reverse_factors]
    # a few reverse-worded items, spread over factors, never a whole factor
    assert 4 <= len(others) <= 10
    assert len({i.factor for i in others}) == len(others)


def test_actions(bank: LtsiBank) -> None:
    actions = {f.id: f.action for f in bank.factors}
    assert actions.pop("supervisor_support") is LtsiAction.ASK_LEADER_AND_TELL_MENTOR
    assert actions.pop("performance_coaching") is LtsiAction.ASK_LEADER_AND_TELL_MENTOR
    assert actions.pop("opportunity_to_use") is LtsiAction.OFFER_PLAN_MILESTONE
    assert actions.pop("self_efficacy") is LtsiAction.OFFER_ROLEPLAY
    assert set(actions.values()) == {LtsiAction.NONE}


def test_scale_labels_fit_buttons(bank: LtsiBank) -> None:
    assert bank.scale_values == (1, 2, 3, 4, 5)
    for locale in LOCALES:
        for value in bank.scale_values:
            label = bank.scale_label(locale, value)
            assert 0 < len(label) <= 20
    assert bank.scale_label("zh-CN", 1) == "完全不同意"
    assert bank.scale_label("en", 5) == "Strongly agree"
    assert bank.scale_label("fr", 3) == bank.scale_label("zh-CN", 3)
    with pytest.raises(ValueError):
        bank.scale_label("en", 6)


def test_thresholds_and_their_note(bank: LtsiBank) -> None:
    assert bank.thresholds.barrier_below == 2.5
    assert bank.thresholds.catalyst_at_least == 4.0
    assert "LTSI" in bank.thresholds.note("zh-CN")
    assert "not an official" in bank.thresholds.note("en")


def test_the_bank_feeds_the_scoring(bank: LtsiBank) -> None:
    """Agreeing with everything: reverse items pull their factors down, the rest are 5."""
    full = bank.full_form()
    scores = score({i.id: 5 for i in full}, bank.specs(full))
    assert scores.factor("supervisor_sanctions") == 1.0
    assert scores.factor("negative_outcomes") == 1.0
    assert scores.factor("supervisor_support") == 5.0
    assert scores.factor("personal_capacity") == pytest.approx(11 / 3)
    diagnosis = classify(scores, bank.thresholds.barrier_below, bank.thresholds.catalyst_at_least)
    assert diagnosis.barriers[0].factor == "supervisor_sanctions"
    assert set(scores.groups) == set(GROUPS)


# --- broken copies ----------------------------------------------------------------------------


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(CONTENT / "ltsi", target / "ltsi")
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), "utf-8")


def _line_of(path: Path, start: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith(start))


def test_missing_translation_names_file_line_and_key(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    items = content / "ltsi" / "items.yaml"
    _edit(items, "    en: My leader asks me how I am using the methods from the course.\n", "")
    with pytest.raises(ContentError) as err:
        load_ltsi(content)
    message = str(err.value)
    assert f"items.yaml:{_line_of(items, '  sup1:')}" in message
    assert "items.sup1.en" in message


def test_factor_with_two_full_items_is_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    items = content / "ltsi" / "items.yaml"
    lines = items.read_text(encoding="utf-8").splitlines()
    start = lines.index("  peer3:")
    del lines[start : start + 6]
    items.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(ContentError) as err:
        load_ltsi(content)
    message = str(err.value)
    assert "items.yaml:" in message
    assert "peer_support" in message
    assert "2 item(s) in the full form" in message


def test_quick_item_missing_is_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    items = content / "ltsi" / "items.yaml"
    text = items.read_text(encoding="utf-8")
    start = text.index("  eff1:")
    items.write_text(text[:start] + text[start:].replace("[quick, full]", "[full]", 1), "utf-8")
    with pytest.raises(ContentError, match=r"items\.yaml.*'self_efficacy' has 0 item\(s\) in"):
        load_ltsi(content)


def test_unknown_factor_names_file_line_and_key(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    items = content / "ltsi" / "items.yaml"
    _edit(items, "    factor: peer_support\n", "    factor: peer_suport\n")
    with pytest.raises(ContentError) as err:
        load_ltsi(content)
    message = str(err.value)
    assert f"items.yaml:{_line_of(items, '    factor: peer_suport')}" in message
    assert "items.peer1.factor" in message
    assert "peer_suport" in message


@pytest.mark.parametrize(
    ("barrier", "catalyst"), [("4.0", "2.5"), ("3.0", "3.0"), ("0.5", "4.0"), ("2.5", "5.5")]
)
def test_bad_thresholds_are_refused(tmp_path: Path, barrier: str, catalyst: str) -> None:
    content = _copy(tmp_path)
    factors = content / "ltsi" / "factors.yaml"
    _edit(factors, "  barrier_below: 2.5\n", f"  barrier_below: {barrier}\n")
    _edit(factors, "  catalyst_at_least: 4.0\n", f"  catalyst_at_least: {catalyst}\n")
    with pytest.raises(ContentError) as err:
        load_ltsi(content)
    message = str(err.value)
    assert "factors.yaml:" in message
    assert "thresholds." in message


def test_threshold_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    factors = content / "ltsi" / "factors.yaml"
    _edit(factors, "  barrier_below: 2.5\n", "  barrier_below: low\n")
    with pytest.raises(ContentError, match=r"factors\.yaml:\d+: thresholds\.barrier_below"):
        load_ltsi(content)


def test_duplicate_item_id_is_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    items = content / "ltsi" / "items.yaml"
    _edit(items, "  sup2:\n", "  sup1:\n")
    with pytest.raises(ContentError, match=r"items\.yaml:\d+: items\.sup1: appears twice"):
        load_ltsi(content)


def test_unknown_action_is_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    factors = content / "ltsi" / "factors.yaml"
    _edit(factors, "    action: offer_roleplay\n", "    action: offer_role_play\n")
    with pytest.raises(ContentError, match=r"factors\.self_efficacy\.action: unknown action"):
        load_ltsi(content)


def test_reverse_must_be_a_bool(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    items = content / "ltsi" / "items.yaml"
    _edit(items, "    reverse: true\n", "    reverse: 'yes'\n")
    with pytest.raises(ContentError, match=r"items\.pc2\.reverse: expected true or false"):
        load_ltsi(content)


def test_unknown_group_is_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    factors = content / "ltsi" / "factors.yaml"
    _edit(factors, "    group: secondary\n", "    group: personal\n")
    with pytest.raises(ContentError, match=r"factors\.learner_readiness\.group: unknown group"):
        load_ltsi(content)


def test_item_text_over_the_limit_is_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    items = content / "ltsi" / "items.yaml"
    _edit(items, "    zh-CN: 就算一开始不顺利", "    zh-CN: " + "很" * 200 + "就算一开始不顺利")
    with pytest.raises(ContentError, match=r"items\.mot2\.zh-CN: text is \d+ characters"):
        load_ltsi(content)


def test_html_special_characters_are_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    items = content / "ltsi" / "items.yaml"
    _edit(items, "tools from the course (flowcharts,", "tools from the course <b>flowcharts</b>,")
    with pytest.raises(ContentError, match=r"items\.td3\.en: .*HTML"):
        load_ltsi(content)


def test_scale_label_too_long_for_a_button_is_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    factors = content / "ltsi" / "factors.yaml"
    _edit(factors, "    en: Strongly disagree\n", "    en: I strongly disagree with it\n")
    with pytest.raises(ContentError, match=r"scale\.1\.en: text is 27 characters"):
        load_ltsi(content)


def test_misspelt_key_is_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    factors = content / "ltsi" / "factors.yaml"
    _edit(factors, "    suggestion:\n", "    suggesion:\n")
    with pytest.raises(ContentError, match=r"factors\.content_validity"):
        load_ltsi(content)
