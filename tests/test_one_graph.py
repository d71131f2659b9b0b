"""One graph: the CLI, the code location (`warehouse ui`, the daemon), the benchmark and the
tests' builds all use the one `Definitions` of orchestration/definitions.py.

Read from the source (AST), so that a second graph cannot come back unnoticed: a second
`Definitions(...)` anywhere in the product, a build path that imports another one, or a code
location that loads another module fails here. That the runs are really recorded as runs of
that graph's job is asserted on a real build in tests/test_end_to_end.py
(test_dagster_records_every_month_the_feeds_hold).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from orchestration.settings import REPO_ROOT

PRODUCT_FOLDERS = ("orchestration", "benchmarks")
DEFINITIONS_MODULE = "orchestration.definitions"


def _python_files() -> list[Path]:
    return sorted(p for folder in PRODUCT_FOLDERS for p in (REPO_ROOT / folder).rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _calls_named(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == name)
            or (isinstance(node.func, ast.Attribute) and node.func.attr == name)
        )
    ]


def _imports_defs(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == DEFINITIONS_MODULE
        and any(alias.name == "defs" for alias in node.names)
        for node in ast.walk(tree)
    )


def test_the_product_constructs_definitions_once() -> None:
    constructed = {
        str(path.relative_to(REPO_ROOT)): len(calls)
        for path in _python_files()
        if (calls := _calls_named(_tree(path), "Definitions"))
    }
    assert constructed == {"orchestration/definitions.py": 1}


def test_the_code_location_is_that_module() -> None:
    """`warehouse ui` runs `dagster dev` in the repository root: it loads [tool.dagster]."""
    settings = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert settings["tool"]["dagster"]["module_name"] == DEFINITIONS_MODULE
    assert not (REPO_ROOT / "workspace.yaml").exists()  # it would take precedence


def test_the_cli_and_the_benchmark_build_through_those_definitions() -> None:
    build = _tree(REPO_ROOT / "orchestration" / "build.py")
    cli = _tree(REPO_ROOT / "orchestration" / "cli.py")
    benchmark = _tree(REPO_ROOT / "benchmarks" / "pipeline_child.py")
    # the full build and the one-day run execute jobs of `defs`
    assert _imports_defs(build)
    # `warehouse run` and the benchmark build through orchestration.build, and the benchmark
    # reads its runs back from the same definitions
    assert _calls_named(cli, "build_warehouse")
    assert _calls_named(benchmark, "build_warehouse") and _calls_named(benchmark, "run_for_day")
    assert _imports_defs(benchmark)
    # no product module builds a job or an asset graph of its own: the code location's two
    # jobs (the refresh, the review after each publish) are defined by orchestration.automation
    job_modules = {"orchestration/automation/refresh.py", "orchestration/automation/review.py"}
    for path in _python_files():
        if path.relative_to(REPO_ROOT).as_posix() not in job_modules:
            assert not _calls_named(_tree(path), "define_asset_job"), path
