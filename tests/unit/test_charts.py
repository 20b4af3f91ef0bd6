"""Charts: a CJK font is found, Chinese is drawn with real glyphs (not "tofu" boxes), and
every chart renders to a sane PNG. Warnings are errors here, so a "Glyph ... missing from
font(s)" warning from matplotlib fails a test: that warning is the bug this guards against.

The PNGs are written to artifacts/charts/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from matplotlib.font_manager import FontProperties, findfont
from matplotlib.textpath import TextPath
from PIL import Image

from bot.charts import MAX_SERIES, WIDTH_PX, new_figure, render_png, wrap_label
from bot.charts import fonts as fonts_module
from bot.charts.bars import completion_png, grouped_bars_png
from bot.charts.fonts import (
    APT_PACKAGE,
    MissingFontError,
    cjk_font,
    find_cjk_font,
    has_glyphs,
    locate_cjk_font,
    missing_glyphs,
)
from bot.charts.radar import radar_png

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "charts"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEJAVU = FontProperties(family="DejaVu Sans", size=20)  # matplotlib's own font: no CJK

FACTORS = [
    "内容贴合工作",
    "培训便于上手",
    "时间和精力",
    "用的机会",
    "想用起来",
    "用了会见效",
    "干好有回报",
    "领导的支持",
    "领导不设阻碍",
    "同事的支持",
    "对自己有好处",
    "学了不用有人过问",
    "接受新做法的氛围",
    "有人给反馈",
    "参训准备",
    "相信自己能行",
]
DAY30 = [4.2, 3.8, 2.1, 2.7, 4.6, 4.0, 3.0, 2.3, 3.7, 4.1, 3.9, 2.0, 3.3, 2.6, 4.4, 4.1]
COURSE_END: list[float | None] = [
    3.6, 3.5, 2.4, None, 4.3, 3.8, 2.5, 2.0, 3.9, 3.8, 3.5, 1.7, None, 2.2, 4.0, 3.6,
]  # fmt: skip

FONT = find_cjk_font()
needs_cjk_font = pytest.mark.skipif(
    FONT is None,
    reason=f"no CJK font installed: `apt-get install {APT_PACKAGE}` (dev.py test does it as root)",
)


def _save(name: str, png: bytes) -> Image.Image:
    """Checks that `png` is a PNG, keeps a copy in artifacts/charts/, and opens it."""
    assert png.startswith(PNG_SIGNATURE)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_bytes(png)
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def _colours(image: Image.Image) -> int:
    return len(image.convert("RGB").getcolors(maxcolors=1 << 24) or [])


def _text_png(text: str, font: FontProperties) -> bytes:
    figure = new_figure(120, 400)
    figure.text(0.05, 0.5, text, fontproperties=font, va="center")
    return render_png(figure)


# --- the font -------------------------------------------------------------------------


@needs_cjk_font
def test_a_cjk_font_is_found_and_draws_the_factor_names() -> None:
    font = locate_cjk_font()
    assert font.path.is_file()
    assert has_glyphs(font.path, "上级支持 学习迁移 自我效能 收到", face_index=font.face_index)
    assert has_glyphs(
        font.path, "".join(FACTORS) + "（）：，。0123456789/%≥<–—…LTSI", face_index=font.face_index
    )
    assert cjk_font().get_file() == str(font.path)


@needs_cjk_font
def test_has_glyphs_is_false_for_a_character_the_font_lacks() -> None:
    font = locate_cjk_font()
    assert not has_glyphs(font.path, "\ue000", face_index=font.face_index)  # private use
    assert missing_glyphs(font.path, "学\ue000用\ue000", face_index=font.face_index) == "\ue000"
    dejavu = findfont(DEJAVU, fallback_to_default=False)
    assert not has_glyphs(dejavu, "上级支持")
    assert has_glyphs(dejavu, "LTSI 1-5")


@needs_cjk_font
def test_a_collection_prefers_its_simplified_chinese_face() -> None:
    font = locate_cjk_font()
    if font.path.suffix.lower() == ".ttc":
        assert " SC" in font.family or "CN" in font.family or "Hans" in font.family


@needs_cjk_font
def test_cjk_text_becomes_real_outlines_and_dejavu_gives_tofu() -> None:
    chars = "上级支持"
    cjk = [TextPath((0, 0), c, prop=cjk_font()).vertices.tobytes() for c in chars]
    assert all(cjk) and len(set(cjk)) == len(chars)  # four different glyphs
    tofu = [TextPath((0, 0), c, prop=DEJAVU).vertices.tobytes() for c in chars]
    assert len(set(tofu)) == 1  # the same "missing glyph" box four times


@needs_cjk_font
def test_rendered_chinese_differs_per_character_only_with_the_cjk_font() -> None:
    font = cjk_font(20)
    assert _text_png("上级支持", font) != _text_png("学习迁移", font)
    with pytest.warns(UserWarning, match="missing from font"):
        boxes = _text_png("上级支持", DEJAVU), _text_png("学习迁移", DEJAVU)
    assert boxes[0] == boxes[1]


@needs_cjk_font
def test_a_bundled_font_comes_first(tmp_path: Path) -> None:
    font = locate_cjk_font()
    (tmp_path / "broken.ttf").write_bytes(b"not a font")
    (tmp_path / "README.txt").write_text("fonts go here", encoding="utf-8")
    (tmp_path / f"cjk{font.path.suffix}").symlink_to(font.path)
    found = find_cjk_font(bundled_dir=tmp_path)
    assert found is not None
    assert found.source == "bundled"
    assert found.path == tmp_path / f"cjk{font.path.suffix}"
    assert found.face_index == font.face_index


@needs_cjk_font
def test_the_font_manager_is_the_last_resort(tmp_path: Path) -> None:
    found = find_cjk_font(tmp_path / "none", tmp_path / "none.ttc")
    if found is None:
        pytest.skip("the CJK font is only in a place the font manager does not scan")
    assert found.source == "system"
    assert any(name in found.family for name in fonts_module.SYSTEM_FAMILIES)
    assert "Serif" not in found.family and "Mono" not in found.family


def test_no_font_anywhere_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_cjk_font(tmp_path / "none", tmp_path / "none.ttc", use_system=False) is None
    monkeypatch.setattr(fonts_module, "find_cjk_font", lambda: None)
    locate_cjk_font.cache_clear()
    try:
        with pytest.raises(MissingFontError, match=APT_PACKAGE):
            cjk_font()
    finally:
        locate_cjk_font.cache_clear()


# --- the charts ------------------------------------------------------------------------


@needs_cjk_font
def test_radar_of_sixteen_factors_and_two_waves() -> None:
    png = radar_png(
        FACTORS,
        [("结课时", COURSE_END), ("第30天", DAY30)],
        title="LTSI 学用自查：张三（2026秋季社区书记班）",
        threshold_low=2.5,
        threshold_high=4.0,
        note="空缺处表示这一方面没有作答。分界线是学用项目的经验做法，不是LTSI官方常模。",
    )
    image = _save("radar_16_factors.png", png)
    assert image.width == WIDTH_PX
    assert 1000 <= image.height <= 1300
    assert _colours(image) > 200  # lines, fills, bands and anti-aliased text, not a blank page


@needs_cjk_font
def test_radar_labels_are_drawn_as_chinese_not_boxes() -> None:
    """Two charts that differ only in the characters of their labels differ in pixels;
    with missing glyphs both would show the same boxes (and warn)."""
    other = ["学习迁移自我效能"[: len(name)] for name in FACTORS]
    series = [("第30天", DAY30)]
    assert radar_png(FACTORS, series, title="自查") != radar_png(other, series, title="自查")


@needs_cjk_font
def test_radar_is_deterministic_and_takes_three_series_and_gaps() -> None:
    def render() -> bytes:
        return radar_png(
            ["Course fits my work", "Built for practice", "时间和精力", "用的机会", "想用起来"],
            [
                ("结课时", [4, 3, 2, None, 5]),
                ("第30天", [3, 3.5, None, None, 4]),
                ("第60天", [None, None, None, None, 1]),
            ],
            title="三轮对比",
            threshold_low=2.5,
        )

    png = render()
    assert png == render()
    image = _save("radar_three_waves_gaps.png", png)
    assert image.width == WIDTH_PX


@needs_cjk_font
def test_charts_render_the_same_in_worker_threads() -> None:
    """No pyplot, no shared figure state: what asyncio.to_thread would do, four at a time."""

    def render(_: int) -> bytes:
        return radar_png(FACTORS[:6], [("第30天", DAY30[:6])], title="自查", threshold_low=2.5)

    alone = render(0)
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert set(pool.map(render, range(8))) == {alone}


@needs_cjk_font
def test_radar_rejects_bad_input() -> None:
    four = [(f"第{i}轮", DAY30) for i in range(MAX_SERIES + 1)]
    with pytest.raises(ValueError, match="1 to 3 series"):
        radar_png(FACTORS, four, title="x")
    with pytest.raises(ValueError, match="1 to 3 series"):
        radar_png(FACTORS, [], title="x")
    with pytest.raises(ValueError, match="3 to 16 axes"):
        radar_png(["a", "b"], [("x", [1, 2])], title="x")
    with pytest.raises(ValueError, match="3 to 16 axes"):
        radar_png([*FACTORS, "多一个"], [("x", [*DAY30, 3])], title="x")
    with pytest.raises(ValueError, match="15 values for 16 axes"):
        radar_png(FACTORS, [("x", DAY30[:-1])], title="x")
    with pytest.raises(ValueError, match="outside the scale"):
        radar_png(FACTORS, [("x", [*DAY30[:-1], 5.5])], title="x")
    with pytest.raises(ValueError, match="not finite"):
        radar_png(FACTORS, [("x", [*DAY30[:-1], float("nan")])], title="x")
    with pytest.raises(ValueError, match="threshold"):
        radar_png(FACTORS, [("x", DAY30)], title="x", threshold_low=0.5)


@needs_cjk_font
def test_grouped_bars_of_factor_means_per_wave() -> None:
    png = grouped_bars_png(
        FACTORS,
        [("结课时", COURSE_END), ("第30天", DAY30), ("第60天", [3.1] * 16)],
        title="2026秋季社区书记班：各方面平均分",
        ylabel="平均分（1–5，越高越有利于学用）",
        ylim=(1, 5),
        note="— 表示这一轮没有人答这一方面。",
    )
    image = _save("bars_factor_means.png", png)
    assert image.width == WIDTH_PX
    assert image.height > 1000  # grows with 16 categories × 3 bars
    assert _colours(image) > 100


@needs_cjk_font
def test_grouped_bars_without_ylim_and_all_missing() -> None:
    png = grouped_bars_png(
        ["完成计划", "提交反思"],
        [("人数", [12, None])],
        title="人数",
        ylabel="人",
    )
    assert _save("bars_counts.png", png).width == WIDTH_PX
    nothing = grouped_bars_png(["完成计划"], [("人数", [None])], title="无数据", ylabel="人")
    assert nothing.startswith(PNG_SIGNATURE)


@needs_cjk_font
def test_grouped_bars_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="1 to 3 series"):
        grouped_bars_png(FACTORS, [(str(i), DAY30) for i in range(4)], title="x", ylabel="y")
    with pytest.raises(ValueError, match="ylim must go up"):
        grouped_bars_png(FACTORS, [("x", DAY30)], title="x", ylabel="y", ylim=(5, 1))
    with pytest.raises(ValueError, match="categories"):
        grouped_bars_png([], [("x", [])], title="x", ylabel="y")


@needs_cjk_font
def test_completion_bars() -> None:
    png = completion_png(
        ["结课时", "第30天", "第60天"], [28, 12, 0], [30, 30, 0], title="自查完成情况"
    )
    image = _save("completion.png", png)
    assert image.width == WIDTH_PX
    assert _colours(image) > 50
    with pytest.raises(ValueError, match="done <= total"):
        completion_png(["结课时"], [31], [30], title="x")
    with pytest.raises(ValueError, match="done <= total"):
        completion_png(["结课时"], [-1], [30], title="x")
    with pytest.raises(ValueError, match="2 labels, 1 done"):
        completion_png(["结课时", "第30天"], [1], [2], title="x")


def test_progress_text_rounds_down() -> None:
    from bot.charts.bars import _progress_text

    assert _progress_text(12, 30) == "12/30 (40%)"
    assert _progress_text(299, 300) == "299/300 (99%)"
    assert _progress_text(0, 0) == "0/0 (—)"


# --- label wrapping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "columns", "expected"),
    [
        ("领导的支持", 12, "领导的支持"),
        ("学了不用有人过问", 12, "学了不用\n有人过问"),  # balanced, not 6 + 2
        ("Not using it gets noticed", 16, "Not using it\ngets noticed"),
        ("LTSI自查", 6, "LTSI\n自查"),
        ("培训（第一期），结课", 8, "培训（第\n一期），\n结课"),  # "），" stay with "期"
        ("一二三四五六七八九十", 4, "一二\n三四\n五…"),  # at most three lines
        ("一二三，四", 6, "一二\n三，四"),  # no line starts with "，"
    ],
)
def test_wrap_label(text: str, columns: int, expected: str) -> None:
    assert wrap_label(text, columns) == expected
