"""The lint gate (.ci/run, README "Development") rejects badly formatted code.

Each check runs the project's own tools with the repository's configuration on a temporary
copy holding one clean and one bad file: the clean file passes (the check can pass) and the
bad one fails with the rule it breaks (the check can fail).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
IGNORED = shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml")

CLEAN_PYTHON = 'def double(x: int) -> dict[str, int]:\n    return {"value": x * 2}\n'
MISFORMATTED_PYTHON = 'def double( x:int )->dict[str,int]:\n    return {"value":x*2}\n'
UNUSED_IMPORT_PYTHON = "import os\n\n\ndef double(x: int) -> int:\n    return x * 2\n"
# Upper-case keywords, both select targets on the select line, no space after the comma.
MISFORMATTED_MODEL = "SELECT date_day,year_start FROM {{ ref('dim_date') }}\n"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


def _python_copy(tmp_path: Path) -> Path:
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "clean.py").write_text(CLEAN_PYTHON)
    return tmp_path


def test_ruff_format_check_rejects_a_misformatted_file(tmp_path: Path) -> None:
    root = _python_copy(tmp_path)
    (root / "misformatted.py").write_text(MISFORMATTED_PYTHON)
    ruff = str(BIN / "ruff")

    assert _run(ruff, "format", "--check", "clean.py", cwd=root).returncode == 0
    result = _run(ruff, "format", "--check", "clean.py", "misformatted.py", cwd=root)
    assert result.returncode == 1
    assert "misformatted.py" in result.stdout
    assert "clean.py" not in result.stdout


def test_ruff_check_rejects_a_lint_error(tmp_path: Path) -> None:
    root = _python_copy(tmp_path)
    (root / "unused_import.py").write_text(UNUSED_IMPORT_PYTHON)
    ruff = str(BIN / "ruff")

    assert _run(ruff, "check", "clean.py", cwd=root).returncode == 0
    result = _run(ruff, "check", "--output-format", "concise", "unused_import.py", cwd=root)
    assert result.returncode == 1
    assert "unused_import.py:1:8: F401" in result.stdout


def test_sqlfluff_rejects_a_misformatted_model(tmp_path: Path) -> None:
    """The committed .sqlfluff, dbt templater and all, on a copy of the dbt project."""
    for name in (".sqlfluff", ".sqlfluffignore"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "dbt_project", tmp_path / "dbt_project", ignore=IGNORED)
    models = tmp_path / "dbt_project" / "models"
    bad_model = models / "intermediate" / "zz_misformatted.sql"
    bad_model.write_text(MISFORMATTED_MODEL)
    clean_model = models / "marts" / "dimensions" / "dim_date.sql"

    result = _run(
        str(BIN / "sqlfluff"),
        "lint",
        "--format",
        "json",
        str(bad_model.relative_to(tmp_path)),
        str(clean_model.relative_to(tmp_path)),
        cwd=tmp_path,
    )

    assert result.returncode == 1, result.stderr[-3000:]
    codes = {
        Path(linted["filepath"]).name: {v["code"] for v in linted["violations"]}
        for linted in json.loads(result.stdout)
    }
    assert codes["dim_date.sql"] == set()
    assert {"CP01", "LT01", "LT09"} <= codes["zz_misformatted.sql"]
