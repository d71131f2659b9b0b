"""The demo-data generator: determinism, the source formats, and the defect manifest.

Files are read back with independent readers (json, csv, openpyxl), not the ingestion code.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import openpyxl
import pytest
from conftest import file_digests

from orchestration.datagen.generate import generate

SMALL = {"scale": 0.05, "start": "2023-12-28", "end": "2024-01-06", "seed": 11}


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("raw")
    generate(out, progress=None, **SMALL)
    return out


@pytest.fixture(scope="module")
def manifest(raw: Path) -> list[dict]:
    return json.loads((raw / "_manifest" / "defects.json").read_text())["defects"]


def test_same_seed_gives_byte_identical_files(raw: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, progress=None, **SMALL)
    assert file_digests(again) == file_digests(raw)


def test_another_seed_gives_other_data(raw: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate(other, progress=None, **{**SMALL, "seed": 12})
    assert file_digests(other) != file_digests(raw)


def test_every_feed_is_written(raw: Path) -> None:
    for platform in ("tmall", "jd", "pinduoduo", "douyin", "wecom_community"):
        assert list((raw / "online" / platform).glob(f"{platform}_orders_2024010*.jsonl"))
    assert (raw / "store" / "pos_20231229.csv").exists()
    assert list((raw / "distributor" / "202312").glob("D*_202312.xlsx"))
    assert list((raw / "overseas" / "shopee" / "th").glob("shopee_th_orders_2024*.csv"))
    assert list((raw / "overseas" / "lazada" / "vn").glob("lazada_vn_orders_2024*.csv"))
    # Overseas starts in 2024 and Malaysia only in 2025.
    assert not list((raw / "overseas").rglob("*_2023*.csv"))
    assert not (raw / "overseas" / "shopee" / "my").exists()
    for name in ("products", "stores", "distributors", "targets", "fx_rates"):
        assert (raw / "reference" / f"{name}.csv").stat().st_size > 100


def test_online_orders_are_json_lines_with_nested_lines_and_offsets(
    raw: Path, manifest: list
) -> None:
    path = sorted((raw / "online" / "jd").glob("jd_orders_2024010*.jsonl"))[0]
    declared = _declared_rows(manifest, path.relative_to(raw).as_posix())
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if number in declared:
            continue
        order = json.loads(line)
        assert order["created_at"].endswith("+08:00")
        assert order["status"] in ("completed", "cancelled")
        assert order["lines"] and all(
            set(item) == {"line_no", "sku", "quantity", "unit_price", "promo_discount"}
            for item in order["lines"]
        )
        assert order["receiver_city"].endswith(("市", "州", "盟", "地区"))


def _declared_rows(manifest: list, relative: str) -> set[int]:
    return {row for d in manifest if d["file"] == relative for row in d["rows"]}


def test_pos_export_is_gb18030_with_chinese_headers_and_crlf(raw: Path, manifest: list) -> None:
    declared = _declared_rows(manifest, "store/pos_20231229.csv")
    data = (raw / "store" / "pos_20231229.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = data.decode("gb18030")
    assert "\r\n" in text
    rows = [
        r for n, r in enumerate(csv.DictReader(io.StringIO(text)), start=1) if n not in declared
    ]
    assert rows[0].keys() >= {"销售日期", "小票号", "门店编号", "数量", "零售价", "实收金额"}
    returns = [r for r in rows if int(r["数量"]) < 0]
    sales = [r for r in rows if int(r["数量"]) > 0]
    assert sales and all(r["销售日期"] == "2023-12-29" for r in rows)
    for row in sales:
        paid = int(row["数量"]) * float(row["零售价"]) - float(row["折扣金额"])
        assert abs(paid - float(row["实收金额"])) < 0.005
    assert all(float(r["实收金额"]) < 0 and r["原小票号"] for r in returns)


def test_distributor_workbook_has_a_title_block_and_a_total_row(raw: Path) -> None:
    path = sorted((raw / "distributor" / "202312").glob("*.xlsx"))[0]
    sheet = openpyxl.load_workbook(path, read_only=True).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    distributor_id = path.stem.split("_")[0]
    assert rows[0][0] == "XX电子 经销商月度进货报表"
    assert rows[1][0].startswith("经销商：") and f"（{distributor_id}）" in rows[1][0]
    assert rows[2][0] == "报表月份：2023年12月"
    assert rows[4][:4] == ["日期", "单据号", "商品编码", "商品名称"]
    lines, total = rows[5:-1], rows[-1]
    assert total[0] == "合计"
    assert all(isinstance(r[0], dt.datetime) for r in lines)  # real date cells
    assert abs(sum(r[7] for r in lines) - total[7]) < 0.005
    rebates = [r for r in lines if str(r[1]).startswith("FL")]
    assert rebates and all(r[7] < 0 and r[8] == "月度返利" for r in rebates)


def test_overseas_exports_use_local_time_and_currency(raw: Path) -> None:
    shopee = (raw / "overseas" / "shopee" / "vn").glob("shopee_vn_orders_2024010*.csv")
    rows = list(csv.DictReader(io.StringIO(next(shopee).read_text(encoding="utf-8"))))
    assert dt.datetime.strptime(rows[0]["Order Creation Date"], "%Y-%m-%d %H:%M")
    assert float(rows[0]["Original Price"]) > 100_000  # dong, not yuan
    lazada = (raw / "overseas" / "lazada" / "vn").glob("lazada_vn_orders_2024010*.csv")
    items = list(csv.DictReader(io.StringIO(next(lazada).read_text(encoding="utf-8"))))
    assert {r["currency"] for r in items} == {"USD"}
    assert dt.datetime.strptime(items[0]["createTime"], "%d %b %Y %H:%M:%S")


def test_every_declared_defect_is_where_the_manifest_says(raw: Path, manifest: list) -> None:
    kinds = {d["defect"] for d in manifest}
    assert kinds >= {
        "redelivered_file",
        "duplicate_orders",
        "refund_for_unknown_order",
        "unknown_sku",
        "malformed_rows",
        "unknown_store_and_sku",
        "extra_column",
        "late_file",
    }
    for defect in manifest:
        path = raw / defect["file"]
        assert path.exists(), defect
        encoding = "gb18030" if path.suffix == ".csv" else "utf-8"
        lines = path.read_bytes().decode(encoding).splitlines()
        header = 1 if path.suffix == ".csv" else 0
        for row in defect["rows"]:
            assert row + header <= len(lines), defect
        for key in defect["keys"]:
            assert any(key in line for line in lines), (defect["defect"], key)


def test_redelivered_file_is_a_byte_identical_copy(raw: Path, manifest: list) -> None:
    (defect,) = [d for d in manifest if d["defect"] == "redelivered_file"]
    original = defect["detail"].split("copy of ")[1]
    assert (raw / defect["file"]).read_bytes() == (raw / original).read_bytes()


def test_no_defects_flag_writes_clean_feeds(tmp_path: Path) -> None:
    out = tmp_path / "clean"
    report = generate(out, progress=None, with_defects=False, **SMALL)
    assert report.defects == 0
    assert json.loads((out / "_manifest" / "defects.json").read_text()) == {"defects": []}
    assert not list(out.rglob("*_resend.jsonl"))


@pytest.mark.parametrize(
    ("start", "end"), [("2022-03-01", "2022-03-03"), ("2024-01-01", "2024-01-01")]
)
def test_any_date_range_generates(tmp_path: Path, start: str, end: str) -> None:
    """Before overseas starts, before a series launches, a single day: all work."""
    report = generate(tmp_path / "edge", progress=None, scale=0.1, start=start, end=end, seed=3)
    assert report.order_lines > 0
    assert (tmp_path / "edge" / "reference" / "products.csv").exists()


CHUNKED = {"scale": 0.1, "start": "2024-12-24", "end": "2025-01-06", "seed": 5}


def _rows(paths: list[Path]) -> list[dict]:
    return [
        row
        for path in paths
        for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    ]


def test_chunked_by_year_keeps_ids_unique_and_refunds_in_their_year(tmp_path: Path) -> None:
    """Large runs are drawn a year at a time: one year's files never clash with another's."""
    out = tmp_path / "chunked"
    report = generate(out, progress=None, with_defects=False, chunk_by_year=True, **CHUNKED)
    assert report.chunked_by_year
    assert json.loads((out / "_manifest" / "generation.json").read_text())["chunked_by_year"]
    again = tmp_path / "again"
    generate(again, progress=None, with_defects=False, chunk_by_year=True, **CHUNKED)
    assert file_digests(again) == file_digests(out)

    orders = [
        json.loads(line)
        for path in sorted(out.glob("online/*/*_orders_*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert {o["created_at"][:4] for o in orders} == {"2024", "2025"}
    order_lines = [(o["order_id"], item["line_no"]) for o in orders for item in o["lines"]]
    assert len(set(order_lines)) == len(order_lines)
    refunds = [
        json.loads(line)
        for path in sorted(out.glob("online/*/*_refunds_*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert refunds and set(order_lines) >= {(r["order_id"], r["line_no"]) for r in refunds}
    # Order ids embed the order date (yyMMdd after the platform prefix): a chunk keeps the
    # refunds of its own year's orders only.
    assert all(r["refunded_at"][2:4] == r["order_id"][2:4] for r in refunds)

    shopee = _rows(sorted(out.glob("overseas/shopee/*/*.csv")))
    lazada = _rows(sorted(out.glob("overseas/lazada/*/*.csv")))
    assert {r["Order Creation Date"][:4] for r in shopee} == {"2024", "2025"}
    shopee_keys = [(r["Order ID"], r["SKU Reference No."]) for r in shopee]
    assert len(set(shopee_keys)) == len(shopee_keys)
    items = [r["orderItemId"] for r in lazada]
    assert len(set(items)) == len(items)
    by_year = {r["orderNumber"]: r["createTime"][7:11] for r in lazada}
    assert all(by_year[r["orderNumber"]] == r["createTime"][7:11] for r in lazada)
    assert list((out / "distributor" / "202412").glob("D*_202412.xlsx"))
    assert list((out / "distributor" / "202501").glob("D*_202501.xlsx"))


def test_only_large_runs_are_chunked(
    raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "chunked_by_year" not in json.loads((raw / "_manifest" / "generation.json").read_text())
    monkeypatch.setattr("orchestration.datagen.generate.CHUNK_ABOVE_LINES", 0)
    report = generate(
        tmp_path / "auto",
        progress=None,
        with_defects=False,
        scale=0.1,
        start="2024-01-01",
        end="2024-01-01",
        seed=3,
    )
    assert report.chunked_by_year


def test_a_running_month_has_no_rebate_line_yet(raw: Path) -> None:
    """The monthly rebate is dated the month's last day: data ending on 6 January has none."""
    paths = sorted((raw / "distributor" / "202401").glob("*.xlsx"))
    assert paths
    for path in paths:
        sheet = openpyxl.load_workbook(path, read_only=True).active
        lines = [list(r) for r in sheet.iter_rows(values_only=True)][5:-1]
        assert lines and all(r[0] <= dt.datetime(2024, 1, 6) for r in lines), path.name
        assert not [r for r in lines if str(r[1]).startswith("FL")], path.name
