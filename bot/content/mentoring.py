"""content/mentoring.yaml: what a mentor coaches well (their strengths), each covering LTSI
factors, so that the matching can pair a trainee's barriers with a mentor who helps there."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.content.errors import ContentError
from bot.content.yamlfile import load_yaml

STRENGTH_ID_MAX_BYTES = 24  # callback data carries the id (64 bytes in all)
STRENGTH_LABEL_MAX = 32  # a button label


@dataclass(frozen=True, slots=True)
class Strength:
    """One strength: a stable id, a label per locale, the LTSI factor ids it covers."""

    id: str
    labels: dict[str, str]
    factors: frozenset[str]

    def label(self, locale: str, default_locale: str) -> str:
        return self.labels.get(locale) or self.labels[default_locale]


def _item_lines(path: Path) -> list[dict[str, int]]:
    """For each item of the `strengths` list: its own line ("") and the line of each key."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []  # load_yaml has already reported it
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if key.value == "strengths" and isinstance(value, yaml.SequenceNode):
            out = []
            for item in value.value:
                lines = {"": item.start_mark.line + 1}
                if isinstance(item, yaml.MappingNode):
                    for k, _ in item.value:
                        lines[str(k.value)] = k.start_mark.line + 1
                out.append(lines)
            return out
    return []


def factor_ids(ltsi_factors_path: Path) -> frozenset[str]:
    """The factor ids of the LTSI bank (content/ltsi/factors.yaml), the top-level keys only."""
    data, _ = load_yaml(ltsi_factors_path)
    factors = data.get("factors") if isinstance(data, dict) else None
    if not isinstance(factors, dict) or not factors:
        raise ContentError(ltsi_factors_path, "expected a mapping under 'factors'")
    return frozenset(str(k) for k in factors)


def load_strengths(
    path: Path, known_factors: Iterable[str], locales: tuple[str, ...]
) -> tuple[Strength, ...]:
    """Read and check content/mentoring.yaml; a problem names the file and the line."""
    data, lines = load_yaml(path)
    items = data.get("strengths") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ContentError(
            path, "expected a non-empty list under 'strengths'", lines.get("strengths")
        )
    item_lines = _item_lines(path)
    known = frozenset(known_factors)
    seen: set[str] = set()
    strengths = []
    for index, item in enumerate(items):
        where = item_lines[index] if index < len(item_lines) else {}

        def fail(message: str, key: str = "", where: dict[str, int] = where) -> ContentError:
            return ContentError(path, message, where.get(key) or where.get(""))

        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise fail(f"strength #{index + 1} needs an 'id'")
        strength_id: str = item["id"]
        unknown_keys = sorted(set(item) - {"id", "factors", *locales})
        if unknown_keys:
            raise fail(
                f"strength {strength_id!r}: unknown key {unknown_keys[0]!r}", unknown_keys[0]
            )
        if strength_id in seen:
            raise fail(f"strength id {strength_id!r} appears twice", "id")
        seen.add(strength_id)
        if len(strength_id.encode()) > STRENGTH_ID_MAX_BYTES or not strength_id.isascii():
            raise fail(
                f"strength id {strength_id!r}: ASCII, {STRENGTH_ID_MAX_BYTES} bytes at most", "id"
            )
        labels: dict[str, str] = {}
        for locale in locales:
            label = item.get(locale)
            if not isinstance(label, str) or not label.strip():
                raise fail(f"strength {strength_id!r} has no label for {locale}", locale)
            if len(label) > STRENGTH_LABEL_MAX or any(c in label for c in "<>&"):
                raise fail(
                    f"strength {strength_id!r}: the {locale} label must be at most"
                    f" {STRENGTH_LABEL_MAX} characters, without < > &",
                    locale,
                )
            labels[locale] = label.strip()
        factors = item.get("factors")
        if not isinstance(factors, list) or not factors:
            raise fail(f"strength {strength_id!r} needs a non-empty list of 'factors'", "factors")
        for factor in factors:
            if factor not in known:
                raise fail(
                    f"strength {strength_id!r}: unknown LTSI factor {factor!r}"
                    " (see content/ltsi/factors.yaml)",
                    "factors",
                )
        strengths.append(Strength(id=strength_id, labels=labels, factors=frozenset(factors)))
    return tuple(strengths)
