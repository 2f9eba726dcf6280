"""Validation of landing files: every row is kept or rejected with file, line, field, reason."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from upath import UPath

from fraud_platform.defs.ingest.logic import (
    MAX_AMOUNT,
    ingest_day,
    read_landing_file,
    validate_transactions,
)

DAY = "2024-10-01"
HEADER = "transaction_id,timestamp,sender,receiver,amount,currency\n"


def write(folder: Path, name: str, text: str | bytes) -> Path:
    day = folder / f"date={DAY}"
    day.mkdir(parents=True, exist_ok=True)
    path = day / name
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    return path


def rejected_by_line(result) -> dict[int, tuple[str, str]]:
    return {int(r.line): (r.field, r.reason) for r in result.rejected.itertuples()}


def test_valid_rows_are_typed_and_every_bad_row_has_a_reason(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER
        + "T1,2024-10-01T10:00:00Z,A,B,10.50,USD\n"  # line 2: valid, explicit UTC
        + "T2,2024-10-01T11:00:00,B,C,abc,USD\n"  # 3: amount not a number
        + "T3,2024-10-02T00:00:00,B,C,5,USD\n"  # 4: next day
        + "T4,2024-10-01T11:00:00,C,C,5,USD\n"  # 5: self-transfer
        + "T5,not-a-date,C,D,5,USD\n"  # 6: timestamp
        + "T6,2024-10-01T11:00:00,,D,5,USD\n"  # 7: empty sender
        + "T7,2024-10-01T11:00:00,C,D,-5,USD\n"  # 8: negative
        + "T8,2024-10-01T11:00:00,C,D,0,USD\n"  # 9: zero
        + "T9,2024-10-01T11:00:00,C,D,inf,USD\n"  # 10: infinite
        + "T10,2024-10-01T11:00:00,C,D,NaN,USD\n"  # 11: NaN
        + f"T11,2024-10-01T11:00:00,C,D,{MAX_AMOUNT * 10:.0f},USD\n"  # 12: absurd
        + "T12,2024-10-01T23:59:59+00:00,D,E,7,\n",  # 13: valid, no currency
    )
    result = ingest_day(str(tmp_path), DAY)
    assert list(result.valid["transaction_id"]) == ["T1", "T12"]
    assert result.valid["timestamp"].dtype == "datetime64[us, UTC]"
    assert result.valid["amount"].tolist() == [10.5, 7.0]
    assert result.valid["line"].tolist() == [2, 13]
    assert result.valid["currency"].isna().tolist() == [False, True]
    got = rejected_by_line(result)
    assert {line: field for line, (field, _) in got.items()} == {
        3: "amount",
        4: "timestamp",
        5: "receiver",
        6: "timestamp",
        7: "sender",
        8: "amount",
        9: "amount",
        10: "amount",
        11: "amount",
        12: "amount",
    }
    assert "outside the partition day" in got[4][1]
    assert "self-transfer" in got[5][1]
    assert "not finite" in got[10][1]
    assert "not a number" in got[11][1]
    assert set(result.rejected["source_file"]) == {f"date={DAY}/a.csv"}
    assert result.rejected.loc[result.rejected["line"] == 3, "raw"].item() == (
        "T2,2024-10-01T11:00:00,B,C,abc,USD"
    )
    (report,) = result.files
    assert (report.rows_read, report.rows_valid, report.rows_rejected) == (12, 2, 10)


def test_duplicates_within_and_across_files_keep_the_first(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER + "T1,2024-10-01T10:00:00,A,B,1,USD\nT1,2024-10-01T10:00:00,A,B,1,USD\n",
    )
    write(
        tmp_path,
        "b.csv.gz",
        HEADER + "T1,2024-10-01T12:00:00,C,D,3,USD\nT2,2024-10-01T12:00:00,C,D,3,USD\n",
    )
    result = ingest_day(str(tmp_path), DAY)
    assert result.valid[["transaction_id", "source_file", "line"]].values.tolist() == [
        ["T1", f"date={DAY}/a.csv", 2],
        ["T2", f"date={DAY}/b.csv.gz", 3],
    ]
    dups = result.rejected.sort_values(["source_file", "line"])
    assert dups[["source_file", "line", "field"]].values.tolist() == [
        [f"date={DAY}/a.csv", 3, "transaction_id"],
        [f"date={DAY}/b.csv.gz", 2, "transaction_id"],
    ]
    assert all(f"first seen in date={DAY}/a.csv line 2" in r for r in dups["reason"])
    for report in result.files:
        assert report.rows_read == report.rows_valid + report.rows_rejected


def test_missing_column_rejects_the_whole_file_naming_it(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        "transaction_id,timestamp,sender,amount\nT1,2024-10-01T10:00:00,A,5\nT2,2024-10-01T10:00:00,A,6\n",
    )
    result = ingest_day(str(tmp_path), DAY)
    assert result.valid.empty
    assert result.rejected["line"].tolist() == [2, 3]
    assert set(result.rejected["field"]) == {"receiver"}
    assert set(result.rejected["reason"]) == {"missing required column(s): receiver"}


def test_extra_and_reordered_columns_are_accepted(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        "amount,note,receiver,sender,timestamp,transaction_id\n12.5,hi,B,A,2024-10-01T01:02:03Z,T1\n",
    )
    result = ingest_day(str(tmp_path), DAY)
    assert result.valid[["transaction_id", "sender", "receiver", "amount"]].values.tolist() == [
        ["T1", "A", "B", 12.5]
    ]
    assert result.rejected.empty


def test_ragged_rows_are_rejected_with_their_physical_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER
        + "T1,2024-10-01T10:00:00,A,B,1,USD\nT2,2024-10-01T10:00:00,A,B\nT3,2024-10-01T10:00:00,A,B,1,USD,extra\nT4,2024-10-01T10:00:00,A,C,2,USD\n",
    )
    result = ingest_day(str(tmp_path), DAY)
    assert result.valid["transaction_id"].tolist() == ["T1", "T4"]
    assert result.valid["line"].tolist() == [2, 5]
    assert rejected_by_line(result) == {
        3: ("row", "expected 6 fields, found 4"),
        4: ("row", "expected 6 fields, found 7"),
    }


def test_unicode_bom_latin1_and_hostile_ids_are_kept_verbatim(tmp_path: Path) -> None:
    hostile = "x'); DROP TABLE fraud.datasets; --"
    write(
        tmp_path, "a.csv", "\ufeff" + HEADER + f'T1,2024-10-01T10:00:00,"{hostile}",Ж日😀,1,USD\n'
    )
    write(
        tmp_path, "b.csv", (HEADER + "T2,2024-10-01T10:00:00,Zoë,Müller,2,EUR\n").encode("latin-1")
    )
    result = ingest_day(str(tmp_path), DAY)
    assert result.valid[["sender", "receiver"]].values.tolist() == [
        [hostile, "Ж日😀"],
        ["Zoë", "Müller"],
    ]


def test_unreadable_files_are_recorded_not_fatal(tmp_path: Path) -> None:
    write(tmp_path, "a.csv.gz", HEADER + "T1,2024-10-01T10:00:00,A,B,1,USD\n")
    path = tmp_path / f"date={DAY}" / "a.csv.gz"
    path.write_bytes(path.read_bytes()[:-12])  # truncated gzip
    write(tmp_path, "b.parquet", b"PAR1 not really")
    write(tmp_path, "c.json", "{}")
    write(tmp_path, "d.csv", "")
    write(tmp_path, "e.csv", HEADER)
    result = ingest_day(str(tmp_path), DAY)
    assert result.valid.empty
    reasons = dict(zip(result.rejected["source_file"], result.rejected["reason"], strict=True))
    assert "gzip" in reasons[f"date={DAY}/a.csv.gz"]
    assert "Parquet" in reasons[f"date={DAY}/b.parquet"]
    assert "unknown file format" in reasons[f"date={DAY}/c.json"]
    assert set(result.rejected["field"]) == {"file"}
    counts = {f.source_file.rsplit("/", 1)[1]: (f.rows_read, f.rows_rejected) for f in result.files}
    assert counts == {
        "a.csv.gz": (1, 1),
        "b.parquet": (1, 1),
        "c.json": (1, 1),
        "d.csv": (0, 0),
        "e.csv": (0, 0),
    }


def test_parquet_files_are_validated_like_csv(tmp_path: Path) -> None:
    table = pa.table(
        {
            "transaction_id": ["T1", "T2"],
            "timestamp": pa.array(
                [pd.Timestamp("2024-10-01T05:00:00Z"), pd.Timestamp("2024-10-03T05:00:00Z")],
                type=pa.timestamp("us", tz="UTC"),
            ),
            "sender": ["A", "B"],
            "receiver": ["B", "C"],
            "amount": [5.0, 6.0],
        }
    )
    folder = tmp_path / f"date={DAY}"
    folder.mkdir()
    pq.write_table(table, folder / "x.parquet")
    landing = read_landing_file(UPath(folder / "x.parquet"), DAY)
    valid, rejected = validate_transactions(landing.rows, landing.source_file, DAY)
    assert valid["transaction_id"].tolist() == ["T1"]
    assert rejected[["line", "field"]].values.tolist() == [[3, "timestamp"]]


def test_a_day_without_files_is_an_empty_result(tmp_path: Path) -> None:
    result = ingest_day(str(tmp_path), DAY)
    assert result.files == [] and result.valid.empty and result.rejected.empty
    assert list(result.valid.columns)[:3] == ["partition_date", "transaction_id", "timestamp"]


@pytest.mark.parametrize("amount", ["1e3", "  42.10 ", "0.01"])
def test_amount_formats(tmp_path: Path, amount: str) -> None:
    write(tmp_path, "a.csv", HEADER + f"T1,2024-10-01T10:00:00,A,B,{amount},USD\n")
    result = ingest_day(str(tmp_path), DAY)
    assert result.valid["amount"].tolist() == [float(amount)]
