"""Loading and validating what lives in content/: message templates and lists."""

from bot.content.errors import ContentError
from bot.content.texts import Texts, Translator, load_texts

__all__ = ["ContentError", "Texts", "Translator", "load_texts"]
