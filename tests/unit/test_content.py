"""Content is data: it is checked when loaded, and a broken file names itself."""

import shutil
from pathlib import Path

import pytest

from bot.content import ContentError, load_texts
from bot.content.mentoring import factor_ids
from bot.content.texts import LOCALES

CONTENT = Path(__file__).resolve().parents[2] / "content"


def test_shipped_content_loads_in_every_locale() -> None:
    texts = load_texts(CONTENT)
    assert set(texts.locales) == set(LOCALES)
    assert texts.render("zh-CN", "ask.name", limit=32).startswith("请输入")
    assert texts.render("en", "ask.name", limit=32).startswith("Please")
    assert len(texts.areas) >= 10
    assert texts.area_label("zh-CN", "elevator") == "加装电梯"


def test_user_input_is_escaped_for_telegram_html() -> None:
    texts = load_texts(CONTENT)
    out = texts.render("zh-CN", "invite.already_enrolled", cohort="<b>&x</b>")
    assert "&lt;b&gt;&amp;x&lt;/b&gt;" in out


def test_button_labels_fit_telegram() -> None:
    texts = load_texts(CONTENT)
    for locale in LOCALES:
        for area in texts.areas:
            assert len(area.label(locale)) <= 40
            assert len(f"ma:{area.id}".encode()) <= 64


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    return target


def test_missing_translation_names_file_and_key(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    en = content / "i18n" / "en.yaml"
    en.write_text(en.read_text(encoding="utf-8").replace("  agree:", "  agreed:"), "utf-8")
    with pytest.raises(ContentError) as err:
        load_texts(content)
    message = str(err.value)
    assert "en.yaml" in message
    assert "consent.agree" in message or "consent.agreed" in message


def test_template_error_names_file_line_and_key(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    zh = content / "i18n" / "zh-CN.yaml"
    lines = zh.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("unknown:"))
    lines[index] = "unknown: 没看懂 {{ oops"
    zh.write_text("\n".join(lines), "utf-8")
    with pytest.raises(ContentError) as err:
        load_texts(content)
    assert f"zh-CN.yaml:{index + 1}" in str(err.value)
    assert "'unknown'" in str(err.value)


def test_area_without_english_label_is_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    areas = content / "areas.yaml"
    areas.write_text(
        areas.read_text(encoding="utf-8").replace("    en: Elevator retrofit\n", ""), "utf-8"
    )
    with pytest.raises(ContentError, match=r"elevator.*en"):
        load_texts(content)


def test_yaml_boolean_keys_are_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    zh = content / "i18n" / "zh-CN.yaml"
    zh.write_text(zh.read_text(encoding="utf-8") + "\nextra:\n  yes: 是\n", "utf-8")
    with pytest.raises(ContentError, match="not text"):
        load_texts(content)


def test_feature_files_add_messages_and_must_match_across_locales(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    for locale, text in (("zh-CN", "试一试"), ("en", "try it")):
        (content / "i18n" / locale).mkdir(exist_ok=True)
        path = content / "i18n" / locale / "zz_try.yaml"
        path.write_text(f"zz_try:\n  hello: {text}\n", "utf-8")
    texts = load_texts(content)
    assert texts.render("zh-CN", "zz_try.hello") == "试一试"
    assert texts.render("en", "zz_try.hello") == "try it"

    (content / "i18n" / "en" / "zz_try.yaml").write_text("zz_try:\n  other: x\n", "utf-8")
    with pytest.raises(ContentError) as err:
        load_texts(content)
    assert "en/zz_try.yaml" in str(err.value) and "zz_try.hello" in str(err.value)


def test_a_message_defined_in_two_files_is_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    (content / "i18n" / "zh-CN").mkdir(exist_ok=True)
    (content / "i18n" / "zh-CN" / "zz_dup.yaml").write_text("unknown: 又一个\n", "utf-8")
    with pytest.raises(ContentError) as err:
        load_texts(content)
    assert "zz_dup.yaml" in str(err.value) and "'unknown'" in str(err.value)


def test_lists_are_joined_with_the_locale_separator_spaces_kept() -> None:
    from bot.content import Translator

    texts = load_texts(CONTENT)
    assert Translator(texts, "en").join(["a", "b"]) == "a, b"
    assert Translator(texts, "zh-CN").join(["甲", "乙"]) == "甲、乙"


def test_strengths_load_and_map_to_ltsi_factors() -> None:
    texts = load_texts(CONTENT)
    assert texts.strength_ids()[:2] == ("leader_support", "coaching")
    assert texts.strength_label("zh-CN", "leader_support") == "争取领导支持"
    assert texts.strength_label("en", "coaching") == "Feedback and coaching"
    assert texts.strength_factors(["leader_support"]) == {
        "supervisor_support",
        "supervisor_sanctions",
    }
    assert texts.strength_factors(["teamwork", "coaching", "gone"]) == {
        "peer_support",
        "openness_to_change",
        "performance_coaching",
    }
    assert texts.strength_factors([]) == frozenset()
    # Every LTSI factor is covered by some strength, so every barrier can find a mentor.
    every = factor_ids(CONTENT / "ltsi" / "factors.yaml")
    assert texts.strength_factors(texts.strength_ids()) == every


def test_strength_buttons_fit_telegram() -> None:
    texts = load_texts(CONTENT)
    for strength in texts.strengths:
        for locale in LOCALES:
            assert len(strength.labels[locale]) <= 32
        assert len(f"enst:{strength.id}".encode()) <= 64
        assert len(f"pred:t:{strength.id}".encode()) <= 64


def test_strength_with_an_unknown_factor_names_file_and_line(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    path = content / "mentoring.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if "[performance_coaching]" in line)
    lines[index] = lines[index].replace("performance_coaching", "performance_coachin")
    path.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(ContentError) as err:
        load_texts(content)
    assert f"mentoring.yaml:{index + 1}" in str(err.value)
    assert "'performance_coachin'" in str(err.value) and "'coaching'" in str(err.value)


def test_strength_without_english_label_is_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    path = content / "mentoring.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    en: Feedback and coaching\n", ""), "utf-8")
    with pytest.raises(ContentError, match=r"mentoring\.yaml:\d+: strength 'coaching'.*en"):
        load_texts(content)


def test_duplicate_strength_ids_are_refused(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    path = content / "mentoring.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("id: teamwork", "id: coaching"), "utf-8")
    with pytest.raises(ContentError, match=r"mentoring\.yaml:\d+: strength id 'coaching'"):
        load_texts(content)
