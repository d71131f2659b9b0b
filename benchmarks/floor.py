"""Driver of the floor (benchmarks/floor.sql): the three marts from the raw files, bare DuckDB.

Only what DuckDB cannot read offline is done in Python, and it is timed as part of the floor:
the GB18030 POS exports are decoded to UTF-8 copies, and the distributor workbooks (.xlsx) are
read with python-calamine into one Arrow table of text cells. Everything else is floor.sql.

    from benchmarks.floor import run_floor
    result = run_floor(raw_dir, work_dir, memory_limit="3GB", threads=2)
    result.connection.sql("FROM channel_performance")   # temp tables of the three marts
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
from python_calamine import CalamineWorkbook

HERE = Path(__file__).resolve().parent
SQL_PATH = HERE / "floor.sql"
SEEDS_DIR = HERE.parent / "dbt_project" / "seeds"
MARTS = ("channel_performance", "regional_coverage", "target_attainment")

_POS_FILE = re.compile(r"pos_\d{8}(?:_[^/]*)?\.csv")
_WORKBOOK = re.compile(r"(?P<month>\d{6})/(?P<distributor>[^/]+)_(?P=month)\.xlsx")
SELL_IN_COLUMNS = ("日期", "单据号", "商品编码", "数量", "标准单价", "折扣率", "进货金额", "备注")


@dataclass
class FloorResult:
    connection: duckdb.DuckDBPyConnection
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


POS_HEADER = ",".join(
    (
        "销售日期",
        "小票号",
        "门店编号",
        "门店名称",
        "行号",
        "商品编码",
        "商品名称",
        "数量",
        "零售价",
        "折扣金额",
        "实收金额",
        "原小票号",
        "收银员",
        "交易时间",
    )
)


def decode_pos_files(raw_dir: Path, out_dir: Path) -> int:
    """GB18030 -> UTF-8 copies of the POS exports, same names. Files with the standard header
    go to `std/` (read with a fixed schema, no per-file sniffing), the others to `odd/` (read
    by column name); `odd/` always holds a header-only file so that its glob matches.
    Returns the number of files."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    (out_dir / "std").mkdir(parents=True)
    (out_dir / "odd").mkdir()
    (out_dir / "odd" / "pos_00000000_empty.csv").write_text(POS_HEADER + "\n", encoding="utf-8")
    count = 0
    for path in sorted((raw_dir / "store").glob("pos_*.csv")):
        if _POS_FILE.fullmatch(path.name):
            text = path.read_bytes().decode("gb18030")
            folder = "std" if text.split("\n", 1)[0].rstrip("\r") == POS_HEADER else "odd"
            (out_dir / folder / path.name).write_bytes(text.encode("utf-8"))
            count += 1
    return count


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def read_workbooks(raw_dir: Path) -> pa.Table:
    """Every invoice line of every sell-in workbook (between the header and the total row)."""
    columns: dict[str, list] = {
        name: [] for name in ("distributor_id", "report_month", "_source_row", *SELL_IN_COLUMNS)
    }
    for path in sorted((raw_dir / "distributor").glob("*/*.xlsx")):
        match = _WORKBOOK.fullmatch(path.relative_to(raw_dir / "distributor").as_posix())
        if match is None:
            continue
        rows = (
            CalamineWorkbook.from_path(str(path))
            .get_sheet_by_name("进货明细")
            .to_python(skip_empty_area=False)
        )
        header_at = next(i for i, row in enumerate(rows) if row and str(row[0]).strip() == "日期")
        header = [str(cell).strip() for cell in rows[header_at]]
        positions = [header.index(name) if name in header else None for name in SELL_IN_COLUMNS]
        month = match["month"]
        for index in range(header_at + 1, len(rows)):
            row = rows[index]
            if row and str(row[0]).strip() == "合计":
                break
            if not any(cell not in (None, "") for cell in row):
                continue
            columns["distributor_id"].append(match["distributor"])
            columns["report_month"].append(f"{month[:4]}-{month[4:]}-01")
            columns["_source_row"].append(index + 1)
            for name, position in zip(SELL_IN_COLUMNS, positions, strict=True):
                columns[name].append(
                    None if position is None or position >= len(row) else _text(row[position])
                )
    return pa.table(
        {
            name: pa.array(values, pa.int64() if name == "_source_row" else pa.string())
            for name, values in columns.items()
        }
    )


def statements(sql: str) -> list[str]:
    """floor.sql split into statements (no semicolon appears inside a literal there)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip().strip(";").strip()]


def run_floor(
    raw_dir: Path, work_dir: Path, memory_limit: str = "3GB", threads: int = 2
) -> FloorResult:
    """Run the floor; the marts are temp tables of the returned in-memory connection."""
    raw_dir, work_dir = Path(raw_dir).resolve(), Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    steps: dict[str, float] = {}
    started = time.perf_counter()

    pos_dir = work_dir / "pos_utf8"
    decode_pos_files(raw_dir, pos_dir)
    steps["python: decode POS GB18030"] = time.perf_counter() - started

    lap = time.perf_counter()
    sell_in_cells = read_workbooks(raw_dir)
    steps["python: read xlsx (calamine)"] = time.perf_counter() - lap

    connection = duckdb.connect(
        config={
            "memory_limit": memory_limit,
            "threads": threads,
            "temp_directory": str(work_dir / "duckdb_tmp"),
        }
    )
    connection.register("sell_in_cells", sell_in_cells)
    sql = (
        SQL_PATH.read_text(encoding="utf-8")
        .replace("${RAW}", raw_dir.as_posix())
        .replace("${POS}", pos_dir.as_posix())
        .replace("${SEEDS}", SEEDS_DIR.as_posix())
    )
    for statement in statements(sql):
        lap = time.perf_counter()
        connection.execute(statement)
        label = re.sub(r"\s+", " ", statement)[:70]
        steps[f"sql: {label}"] = steps.get(f"sql: {label}", 0.0) + time.perf_counter() - lap
    seconds = time.perf_counter() - started
    rows = {
        mart: connection.execute(f"SELECT count(*) FROM {mart}").fetchone()[0] for mart in MARTS
    }
    rows["sales_lines"] = connection.execute("SELECT count(*) FROM sales_lines").fetchone()[0]
    shutil.rmtree(pos_dir, ignore_errors=True)
    return FloorResult(connection, seconds, steps, rows)


def compare_marts(
    connection: duckdb.DuckDBPyConnection, serving_db: Path, marts: tuple[str, ...] = MARTS
) -> dict[str, dict]:
    """EXCEPT ALL both ways between the floor's marts and the pipeline's (schema marts of the
    serving database), on the floor's columns, decimals rounded to their scale (cents for
    money). Returns per mart: rows on each side, rows only in the floor / only in the pipeline,
    and a few sample differences."""
    serving = Path(serving_db).as_posix()
    connection.execute(f"ATTACH IF NOT EXISTS '{serving}' AS pipeline (READ_ONLY)")
    report = {}
    for mart in marts:
        described = connection.execute(f"DESCRIBE {mart}").fetchall()
        pipeline_columns = {
            r[0] for r in connection.execute(f"DESCRIBE pipeline.marts.{mart}").fetchall()
        }
        exprs = []
        for name, sql_type, *_ in described:
            if name not in pipeline_columns:
                continue
            quoted = f'"{name}"'
            scale = re.fullmatch(r"DECIMAL\(\d+,(\d+)\)", sql_type)
            if scale:
                exprs.append(f"round(cast({quoted} AS {sql_type}), {scale.group(1)}) AS {quoted}")
            else:
                exprs.append(f"cast({quoted} AS {sql_type}) AS {quoted}")
        select = ", ".join(exprs)
        floor_sql = f"SELECT {select} FROM {mart}"
        pipeline_sql = f"SELECT {select} FROM pipeline.marts.{mart}"
        only_floor = connection.execute(
            f"SELECT count(*) FROM ({floor_sql} EXCEPT ALL {pipeline_sql})"
        ).fetchone()[0]
        only_pipeline = connection.execute(
            f"SELECT count(*) FROM ({pipeline_sql} EXCEPT ALL {floor_sql})"
        ).fetchone()[0]
        samples = []
        if only_floor or only_pipeline:
            samples = [
                ("floor", *r)
                for r in connection.execute(
                    f"{floor_sql} EXCEPT ALL {pipeline_sql} LIMIT 3"
                ).fetchall()
            ]
            samples += [
                ("pipeline", *r)
                for r in connection.execute(
                    f"{pipeline_sql} EXCEPT ALL {floor_sql} LIMIT 3"
                ).fetchall()
            ]
        report[mart] = {
            "columns": len(exprs),
            "floor_rows": connection.execute(f"SELECT count(*) FROM {mart}").fetchone()[0],
            "pipeline_rows": connection.execute(
                f"SELECT count(*) FROM pipeline.marts.{mart}"
            ).fetchone()[0],
            "only_in_floor": only_floor,
            "only_in_pipeline": only_pipeline,
            "equal": only_floor == 0 and only_pipeline == 0,
            "samples": [[str(v) for v in s] for s in samples],
        }
    connection.execute("DETACH pipeline")
    return report


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.floor --raw-dir R --work W --out-db F [--json J]`: run the floor in
    a process of its own (so that run.py measures its memory alone) and save the marts."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--raw-dir", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--out-db", required=True)
    parser.add_argument("--json")
    parser.add_argument("--memory-limit", default="3GB")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    result = run_floor(Path(args.raw_dir), Path(args.work), args.memory_limit, args.threads)
    out_db = Path(args.out_db).resolve()
    out_db.unlink(missing_ok=True)
    result.connection.execute(f"ATTACH '{out_db.as_posix()}' AS out")
    for mart in MARTS:
        result.connection.execute(f"CREATE TABLE out.{mart} AS FROM {mart}")
    result.connection.execute("DETACH out")
    payload = {
        "seconds": round(result.seconds, 3),
        "rows": result.rows,
        "steps": {k: round(v, 3) for k, v in result.steps.items()},
    }
    if args.json:
        Path(args.json).write_text(
            json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8"
        )
    print(f"floor: {result.seconds:.1f} s, {result.rows['sales_lines']:,} sales lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
