"""The domain and the services know nothing of Telegram (DESIGN.md, Layers)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("aiogram",)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_domain_and_services_do_not_import_aiogram() -> None:
    offenders = []
    files = [*(ROOT / "bot" / "domain").rglob("*.py"), *(ROOT / "bot" / "services").rglob("*.py")]
    assert files, "expected source files"
    for path in files:
        for name in _imports(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_domain_does_not_import_sqlalchemy_either() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / "bot" / "domain").rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] in {"sqlalchemy", "aiogram", "bot.db"} or name.startswith("bot.db")
    ]
    assert offenders == []
