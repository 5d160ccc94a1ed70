"""The layout's rules, read from the source (ast), so a wrong import fails here before it spreads:

- imports point down: cli, webapp -> services -> db -> core; core imports no project package above it;
- the serving core (core/*.py), db/, services/ and webapp/ never import the measuring and training
  packages (core.evaluation, core.benchmarks, core.training); those may import the serving core;
- db/ imports from core only its types, errors, text checks and config helpers;
- UI and storage libraries stay out of the core; UI and model libraries stay out of db/.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"core", "db", "services", "webapp", "cli", "app", "tests"}
ALLOWED = {
    "core": {"core"},
    "db": {"core", "db"},
    "services": {"core", "db", "services"},
    "webapp": {"core", "db", "services", "webapp"},
    "cli": {"core", "db", "services", "webapp", "cli"},
}
FORBIDDEN_LIBS = {
    "core": {"gradio", "sqlalchemy", "fastapi", "uvicorn", "plotly"},
    "db": {"gradio", "fastapi", "torch", "transformers"},
    "services": {"gradio", "fastapi", "plotly"},
}
MEASURING = ("core.evaluation", "core.benchmarks", "core.training")
DB_MAY_USE = {"core.types", "core.errors", "core.text"}


def _module_imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def _files(*folders: str, flat: bool = False) -> list[Path]:
    return [p for f in folders for p in ((ROOT / f).glob("*.py") if flat else (ROOT / f).rglob("*.py"))]


def layering_errors(path: Path, layer: str) -> list[str]:
    bad = []
    for name in _module_imports(path):
        top = name.split(".")[0]
        if top in PROJECT and top not in ALLOWED[layer]:
            bad.append(f"{_rel(path)} imports {name}")
        if top in FORBIDDEN_LIBS.get(layer, ()):
            bad.append(f"{_rel(path)} imports library {name}")
    return bad


def serving_errors(path: Path) -> list[str]:
    return [f"{_rel(path)} imports {name}" for name in _module_imports(path) if name.startswith(MEASURING)]


def db_errors(path: Path) -> list[str]:
    return [
        f"{_rel(path)} imports {name}"
        for name in _module_imports(path)
        if name.startswith("core") and name not in DB_MAY_USE
    ]


def test_imports_point_down():
    bad = [e for layer in ALLOWED for path in _files(layer) for e in layering_errors(path, layer)]
    assert not bad, "\n".join(bad)


def test_serving_code_never_imports_evaluation_benchmarks_or_training():
    """What answers a query (core/*.py, db/, services/, webapp/) loads without the measuring packages."""
    serving = [*_files("core", flat=True), *_files("db", "services", "webapp")]
    bad = [e for path in serving for e in serving_errors(path)]
    assert not bad, "\n".join(bad)


def test_db_uses_only_core_types_errors_and_text_checks():
    bad = [e for path in _files("db") for e in db_errors(path)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "source, check, layer",
    [
        ("from core.evaluation.metrics import locality\n", serving_errors, None),
        ("import core.training.loop\n", serving_errors, None),
        ("from core.serac import SeracEditor\n", db_errors, None),
        ("from webapp.api import install_api\n", layering_errors, "services"),
        ("from services.services import Services\n", layering_errors, "db"),
        ("import gradio\n", layering_errors, "core"),
    ],
)
def test_the_rules_catch_a_wrong_import(tmp_path, source, check, layer):
    """Each rule fails on a file that breaks it (so the tests above can fail)."""
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert check(path, layer) if layer else check(path)
