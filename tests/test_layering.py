"""Imports only point down: webapp/cli -> core, db; db -> core; core -> libraries only."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"core", "db", "webapp", "cli", "app", "tests"}
ALLOWED = {"core": {"core"}, "db": {"core", "db"}, "webapp": {"core", "db", "webapp"},
           "cli": {"core", "db", "webapp", "cli"}}
FORBIDDEN_LIBS = {"core": {"gradio", "sqlalchemy", "fastapi", "uvicorn", "plotly"}, "db": {"gradio", "fastapi", "torch"}}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_imports_point_down():
    bad = []
    for layer, allowed in ALLOWED.items():
        for path in (ROOT / layer).rglob("*.py"):
            for name in _imports(path):
                if name in PROJECT and name not in allowed:
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
                if name in FORBIDDEN_LIBS.get(layer, ()):
                    bad.append(f"{path.relative_to(ROOT)} imports library {name}")
    assert not bad, "\n".join(bad)


def _module_imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_serving_code_never_imports_training_code():
    """What answers a query (core/*.py, db/, webapp/) loads shipped parts without the training package."""
    serving = [*(ROOT / "core").glob("*.py"), *(ROOT / "db").rglob("*.py"), *(ROOT / "webapp").rglob("*.py")]
    bad = [f"{path.relative_to(ROOT)} imports {name}" for path in serving
           for name in _module_imports(path) if name.startswith("core.training")]
    assert not bad, "\n".join(bad)
