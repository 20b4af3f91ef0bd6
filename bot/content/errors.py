from __future__ import annotations

from pathlib import Path


class ContentError(Exception):
    """A content file is wrong. The message names the file, the line and the key."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
