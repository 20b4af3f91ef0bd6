"""content/guidance.yaml: the short list of guidance-session topics a mentor picks from."""

from __future__ import annotations

from pathlib import Path

from bot.content.errors import ContentError
from bot.content.texts import LOCALES, Choice
from bot.content.yamlfile import load_yaml

TOPIC_ID_MAX_BYTES = 24  # callback data carries the id
TOPIC_LABEL_MAX = 60  # what a typed topic may be, too


def load_topics(content_dir: Path) -> tuple[Choice, ...]:
    """The topics, in order; ContentError naming the file and line of the first problem."""
    path = content_dir / "guidance.yaml"
    data, lines = load_yaml(path)
    items = data.get("topics") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ContentError(path, "expected a non-empty list under 'topics'")
    seen: set[str] = set()
    topics = []
    for number, item in enumerate(items, 1):
        where = lines.get("topics")
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise ContentError(path, f"topic #{number} needs an 'id'", where)
        topic_id = item["id"]
        if topic_id in seen:
            raise ContentError(path, f"topic id {topic_id!r} appears twice", where)
        if len(topic_id.encode()) > TOPIC_ID_MAX_BYTES or topic_id == "other":
            raise ContentError(
                path, f"topic id {topic_id!r}: {TOPIC_ID_MAX_BYTES} bytes at most, not 'other'"
            )
        seen.add(topic_id)
        labels = {}
        for locale in LOCALES:
            label = item.get(locale)
            if not isinstance(label, str) or not label.strip():
                raise ContentError(path, f"topic {topic_id!r} has no label for {locale}", where)
            if len(label) > TOPIC_LABEL_MAX:
                raise ContentError(
                    path, f"topic {topic_id!r}: {locale} label over {TOPIC_LABEL_MAX} characters"
                )
            labels[locale] = label.strip()
        topics.append(Choice(id=topic_id, labels=labels))
    return tuple(topics)
