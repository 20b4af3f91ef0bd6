"""Content is data: it is checked when loaded, and a broken file names itself."""

import shutil
from pathlib import Path

import pytest

from bot.content import ContentError, load_texts
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
