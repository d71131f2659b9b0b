"""Realistic delivery defects, injected into written feeds and declared in a manifest.

Every defect adds or moves records; none changes a correct record. A warehouse that handles
each defect as the manifest's `expected_handling` says reproduces the calibrated figures.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Defect:
    defect: str
    feed: str
    file: str
    expected_handling: str
    rows: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    detail: str = ""


def _lines(path: Path, encoding: str = "utf-8") -> list[str]:
    return path.read_bytes().decode(encoding).splitlines()


def _append(
    path: Path, new_lines: list[str], encoding: str = "utf-8", newline: str = "\n"
) -> list[int]:
    """Append lines; returns their data-row numbers (CSV: header excluded; JSONL: physical)."""
    existing = _lines(path, encoding)
    header_rows = 1 if path.suffix == ".csv" else 0
    first = len(existing) - header_rows + 1
    with path.open("ab") as handle:
        handle.write((newline.join(new_lines) + newline).encode(encoding))
    return list(range(first, first + len(new_lines)))


def _pick(rng: np.random.Generator, files: list[Path]) -> Path:
    return files[int(rng.integers(0, len(files)))]


def _dated_until(paths: list[Path], until: np.datetime64 | None) -> list[Path]:
    """The files of business dates up to `until` (names end in _YYYYMMDD), sorted."""
    if until is None:
        return sorted(paths)
    last = str(until).replace("-", "")
    return sorted(p for p in paths if p.stem.rsplit("_", 1)[-1] <= last)


def inject(
    out_dir: Path, rng: np.random.Generator, until: np.datetime64 | None = None
) -> list[Defect]:
    """Inject the defects into the files of business dates up to `until` (None: all)."""
    online = _dated_until(list((out_dir / "online").glob("*/*_orders_*.jsonl")), until)
    refunds = _dated_until(list((out_dir / "online").glob("*/*_refunds_*.jsonl")), until)
    pos = _dated_until(list((out_dir / "store").glob("pos_*.csv")), until)
    defects: list[Defect] = []
    if online:
        defects += _online_defects(out_dir, rng, online, refunds)
    if pos:
        defects += _store_defects(out_dir, rng, pos)
    return defects


def _relative(out_dir: Path, path: Path) -> str:
    return path.relative_to(out_dir).as_posix()


def _online_defects(
    out_dir: Path, rng: np.random.Generator, online: list[Path], refunds: list[Path]
) -> list[Defect]:
    defects = []
    original = _pick(rng, online)
    resent = original.with_name(original.stem + "_resend.jsonl")
    shutil.copyfile(original, resent)
    defects.append(
        Defect(
            "redelivered_file",
            "online_orders",
            _relative(out_dir, resent),
            "load both files; staging keeps one copy of each order (dedupe on order_id, line_no)",
            detail=f"byte-identical copy of {_relative(out_dir, original)}",
        )
    )

    # The platform's export of the next day repeats three orders of the day before.
    source_index = int(rng.integers(0, len(online) - 1))
    source, target = online[source_index], online[source_index + 1]
    orders = _lines(source)[:3]
    rows = _append(target, orders)
    defects.append(
        Defect(
            "duplicate_orders",
            "online_orders",
            _relative(out_dir, target),
            "staging keeps one row per (order_id, line_no)",
            rows,
            [json.loads(o)["order_id"] for o in orders],
            detail=f"orders re-sent from {_relative(out_dir, source)}",
        )
    )

    target = _pick(rng, refunds or online)
    sample = json.loads(_lines(target)[0])
    ghosts = []
    for i in range(3):
        ghost = dict(sample, refund_id=f"RFX{i:09d}", order_id=f"ZZ{i:012d}")
        ghosts.append(json.dumps(ghost, ensure_ascii=False, separators=(",", ":")))
    rows = _append(target, ghosts)
    defects.append(
        Defect(
            "refund_for_unknown_order",
            "online_refunds",
            _relative(out_dir, target),
            "kept in staging, rejected from sales in intermediate with reason unknown_order",
            rows,
            [f"ZZ{i:012d}" for i in range(3)],
        )
    )

    target = _pick(rng, online)
    order = json.loads(_lines(target)[0])
    order["order_id"] = "UNKNOWNSKU0001"
    for line in order["lines"]:
        line["sku"] = "X9"
    rows = _append(target, [json.dumps(order, ensure_ascii=False, separators=(",", ":"))])
    defects.append(
        Defect(
            "unknown_sku",
            "online_orders",
            _relative(out_dir, target),
            "rejected from sales in intermediate with reason unknown_sku",
            rows,
            ["X9"],
        )
    )

    target = _pick(rng, online)
    broken = _lines(target)[0][:57]
    rows = _append(
        target,
        [
            broken,
            '{"order_id": "BADQTY0001", "platform": "jd", "lines": '
            '[{"line_no": 1, "sku": "C1", "quantity": "two"}]}',
        ],
    )
    defects.append(
        Defect(
            "malformed_rows",
            "online_orders",
            _relative(out_dir, target),
            "quarantined at ingestion with file, row, field and reason",
            rows,
            detail="a truncated JSON line and a non-numeric quantity",
        )
    )
    return defects


def _store_defects(out_dir: Path, rng: np.random.Generator, pos: list[Path]) -> list[Defect]:
    defects = []
    target = _pick(rng, pos)
    lines = _lines(target, "gb18030")
    fields = lines[1].split(",")
    unknown_store = [*fields[:1], f"{fields[1]}X", "S9999", "未知门店", *fields[4:]]
    unknown_sku = [*fields[:5], "X9", "未知商品", *fields[7:]]
    unknown_sku[1] = f"{fields[1]}Y"
    rows = _append(target, [",".join(unknown_store), ",".join(unknown_sku)], "gb18030", "\r\n")
    defects.append(
        Defect(
            "unknown_store_and_sku",
            "store_pos",
            _relative(out_dir, target),
            "rejected from sales in intermediate with reasons unknown_store / unknown_sku",
            rows,
            ["S9999", "X9"],
        )
    )

    target = _pick(rng, pos)
    fields = _lines(target, "gb18030")[1].split(",")
    bad = [*fields[:7], "N/A", *fields[8:]]
    bad_date = ["2023-13-45", *fields[1:]]
    rows = _append(target, [",".join(bad), ",".join(bad_date)], "gb18030", "\r\n")
    defects.append(
        Defect(
            "malformed_rows",
            "store_pos",
            _relative(out_dir, target),
            "quarantined at ingestion (field 数量 not an integer; field 销售日期 not a date)",
            rows,
        )
    )

    target = _pick(rng, pos)
    lines = _lines(target, "gb18030")
    member_cards = rng.integers(10**9, 10**10, len(lines) - 1)
    widened = [lines[0] + ",会员卡号"] + [
        f"{line},{card}" for line, card in zip(lines[1:], member_cards, strict=True)
    ]
    target.write_bytes(("\r\n".join(widened) + "\r\n").encode("gb18030"))
    defects.append(
        Defect(
            "extra_column",
            "store_pos",
            _relative(out_dir, target),
            "known columns load; the extra column 会员卡号 is reported, not loaded",
            detail="column 会员卡号 appended",
        )
    )

    late_index = int(rng.integers(0, max(len(pos) - 3, 1)))
    late, carrier = pos[late_index], pos[min(late_index + 3, len(pos) - 1)]
    if late != carrier:
        late_rows = _lines(late, "gb18030")[1:]
        rows = _append(carrier, late_rows, "gb18030", "\r\n")
        late.unlink()
        defects.append(
            Defect(
                "late_file",
                "store_pos",
                _relative(out_dir, carrier),
                "rows load with their own 销售日期; "
                "the day's partition is refreshed when they arrive",
                rows,
                detail=f"{late.name} was not delivered on its day; its rows came "
                f"inside {carrier.name}",
            )
        )
    return defects


def write_manifest(out_dir: Path, defects: list[Defect]) -> None:
    path = out_dir / "_manifest" / "defects.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"defects": [asdict(d) for d in defects]}
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
