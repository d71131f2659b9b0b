"""`warehouse-dbt`: the dbt command line the pipeline runs, answering `--version` offline.

dagster-dbt asks its dbt executable for its version (`dbt --version`) once per run. dbt answers
that by also looking up the latest dbt-core release on PyPI: a network request on every run
(this project never fetches anything at run time) and ~4 s here. This launcher is dbt's own
command line (`dbt.cli.main.cli`, what the `dbt` script runs) except for `--version`, which it
answers from the installed packages, in dbt's format, without the lookup.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version


def installed_versions() -> str:
    """What `dbt --version` prints about the installed packages (without the latest release)."""
    lines = ["Core:", f"  - installed: {version('dbt-core')}", "", "Plugins:"]
    for plugin in ("dbt-duckdb", "dbt-spark"):
        try:
            lines.append(f"  - {plugin.removeprefix('dbt-')}: {version(plugin)}")
        except PackageNotFoundError:
            continue
    return "\n".join(lines)


def main() -> int:
    if sys.argv[1:] == ["--version"]:
        print(installed_versions())
        return 0
    from dbt.cli.main import cli

    return cli()


if __name__ == "__main__":
    sys.exit(main())
