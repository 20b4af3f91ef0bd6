"""Finding a CJK font for charts, and checking that it has the glyphs a text needs.

Without a CJK font matplotlib draws Chinese as empty boxes ("tofu") and only warns, so the
charts look at the font explicitly, in this order:

1. a font the repository ships in `content/fonts/` (*.otf, *.ttf, *.ttc), e.g. a subset of
   the OFL-licensed Noto Sans SC;
2. Debian's fonts-noto-cjk (`/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc`);
3. any font matplotlib's font manager knows whose family is Noto Sans CJK / Noto Sans SC /
   WenQuanYi / Source Han.

A collection (.ttc) holds several faces; the Simplified Chinese one (`... SC`) is preferred,
because the Japanese face, usually first, draws some characters (说, 骨, 直) differently.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from matplotlib import font_manager
from matplotlib.font_manager import FontProperties
from matplotlib.ft2font import FT2Font

APT_PACKAGE = "fonts-noto-cjk"
BUNDLED_DIR = Path(__file__).resolve().parents[2] / "content" / "fonts"
DEBIAN_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FONT_SUFFIXES = (".otf", ".ttf", ".ttc")
SYSTEM_FAMILIES = ("Noto Sans CJK", "Noto Sans SC", "WenQuanYi", "Source Han")
# A font must draw these to count as a CJK font (a bundled subset must keep them).
PROBE_TEXT = "学用培训支持"
# Face family names that mean Simplified Chinese, best first.
_SIMPLIFIED = (" SC", " CN", "Hans", "WenQuanYi")


class MissingFontError(RuntimeError):
    """No font that can draw Chinese is installed."""


@dataclass(frozen=True, slots=True)
class CjkFont:
    """One face of a font file: `face_index` picks it inside a collection (.ttc)."""

    path: Path
    face_index: int
    family: str
    source: str  # "bundled", "debian" or "system"


def _open(path: str | os.PathLike[str], face_index: int = 0) -> FT2Font:
    if face_index == 0:
        return FT2Font(os.fspath(path))
    return FT2Font(os.fspath(path), face_index=face_index)


def missing_glyphs(font_path: str | os.PathLike[str], text: str, *, face_index: int = 0) -> str:
    """The distinct characters of `text` the font has no glyph for, in order of appearance.

    Line breaks are layout, not glyphs, and are not checked.
    """
    font = _open(font_path, face_index)
    missing: dict[str, None] = {}
    for char in text:
        if char not in "\r\n" and font.get_char_index(ord(char)) == 0:
            missing[char] = None
    return "".join(missing)


def has_glyphs(font_path: str | os.PathLike[str], text: str, *, face_index: int = 0) -> bool:
    """True when the font (face `face_index` of a collection) draws every character of `text`."""
    return not missing_glyphs(font_path, text, face_index=face_index)


def _preference(family: str) -> int:
    """Lower is better: Simplified Chinese faces first, then the rest."""
    for rank, marker in enumerate(_SIMPLIFIED):
        if marker in family:
            return rank
    return len(_SIMPLIFIED)


def _best_face(path: Path, source: str) -> CjkFont | None:
    """The face of `path` that draws Chinese, Simplified Chinese preferred; None if none does."""
    try:
        first = _open(path)
        # matplotlib < 3.11 (no FontPath) can only use the first face of a collection
        count = first.num_faces if hasattr(font_manager, "FontPath") else 1
        faces = [(0, first.family_name)]
        faces += [(index, _open(path, index).family_name) for index in range(1, count)]
    except (OSError, RuntimeError, ValueError):
        return None  # unreadable or not a font
    for index, family in sorted(faces, key=lambda face: (_preference(face[1]), face[0])):
        if _draws_chinese(path, index):
            return CjkFont(path, index, family, source)
    return None


def _draws_chinese(path: Path, face_index: int) -> bool:
    try:
        return has_glyphs(path, PROBE_TEXT, face_index=face_index)
    except (OSError, RuntimeError, ValueError):
        return False  # unreadable or not a font


def _bundled(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in FONT_SUFFIXES)


def _system_entries() -> list[font_manager.FontEntry]:
    """Font-manager entries of the known CJK families: Simplified, sans, regular first."""
    entries = [
        entry
        for entry in font_manager.fontManager.ttflist
        if any(name in entry.name for name in SYSTEM_FAMILIES)
    ]

    def rank(entry: font_manager.FontEntry) -> tuple[int, int, int, int, str, int]:
        weight = entry.weight if isinstance(entry.weight, int) else 400
        return (
            _preference(entry.name),
            "Serif" in entry.name,
            "Mono" in entry.name,
            abs(weight - 400) + (entry.style != "normal") * 1000,
            entry.fname,
            getattr(entry, "index", 0),
        )

    return sorted(entries, key=rank)


def find_cjk_font(
    bundled_dir: Path = BUNDLED_DIR, debian_font: Path = DEBIAN_FONT, *, use_system: bool = True
) -> CjkFont | None:
    """The first usable CJK font in the order of the module docstring, or None."""
    for path in _bundled(bundled_dir):
        if found := _best_face(path, "bundled"):
            return found
    if debian_font.is_file() and (found := _best_face(debian_font, "debian")):
        return found
    if use_system:
        for entry in _system_entries():
            path, index = Path(entry.fname), getattr(entry, "index", 0)  # index: matplotlib 3.11
            if _draws_chinese(path, index):
                return CjkFont(path, index, entry.name, "system")
    return None


@functools.cache
def locate_cjk_font() -> CjkFont:
    """The CJK font the charts use (looked up once per process); MissingFontError if none."""
    found = find_cjk_font()
    if found is None:
        raise MissingFontError(
            "no CJK font found, so Chinese in charts would be drawn as empty boxes; install"
            f" one with `apt-get install {APT_PACKAGE}` (Debian/Ubuntu) or put a Noto Sans SC"
            f" .otf into {BUNDLED_DIR}"
        )
    return found


def _font_file(font: CjkFont) -> str:
    """What FontProperties(fname=...) takes: a path, carrying the face index when needed."""
    if font.face_index == 0:
        return str(font.path)
    return font_manager.FontPath(str(font.path), font.face_index)


def cjk_font(size: float | None = None) -> FontProperties:
    """A new FontProperties for the CJK font (callers may change it); MissingFontError if none."""
    return FontProperties(fname=_font_file(locate_cjk_font()), size=size)
