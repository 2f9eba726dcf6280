"""Bad landing input: every case is read, every row is kept or rejected with a reason.

Every case runs through `ingest_day`, and the ``e2e`` tests at the end run whole days through
``materialize(daily_assets)`` into the live PostgreSQL. For every case, per file, rows read =
rows valid + rows rejected, and every rejected row has a file, a line, a field and a reason.

| case | documented outcome |
|---|---|
| empty (0-byte or blank-lines-only) file | nothing read, nothing rejected |
| header-only file | nothing read, nothing rejected |
| missing required column | every row rejected, ``field`` and reason name the column |
| header without the expected names (no header row) | every row rejected as missing columns |
| column named twice in the header | every row rejected, naming the column |
| extra and reordered columns | read; extras ignored; ``raw`` keeps the file's column order |
| wrong types (text amount, epoch or word timestamps; Parquet ints, strings, bools) | text that parses is read (``007`` stays ``007``); the rest rejected on its field |
| negative, zero, NaN, infinite, above 1e12, comma-decimal amounts | row rejected on ``amount`` |
| unparseable timestamp; timestamp outside the partition's UTC day | row rejected on ``timestamp`` |
| duplicate transaction_id within a file and across files | first (file name order) kept; others rejected naming it, ``raw`` as read |
| self-transfer (also after trimming spaces) | row rejected on ``receiver`` |
| UTF-8 with and without BOM, CRLF, Latin-1, one Latin-1 line in a UTF-8 file | read; ids verbatim |
| Cyrillic, Japanese, emoji account ids | read verbatim, stored verbatim |
| unbalanced quote (mid-file, at the end), ``"ab"c`` | that line rejected with its text; later lines read |
| ragged rows | row rejected with its physical line |
| blank lines, quoted newlines | not rows / one row; line numbers stay physical |
| truncated gzip, ``.csv.gz`` that is not gzip | one record for the file (``field=file``, ``line=0``) |
| zero-byte Parquet, corrupt Parquet, unknown suffix | one record for the file |
| hidden (``.``/``_``) files and subfolders | not landing files: not read |
| SQL-looking account ids | stored verbatim (read back from the warehouse) |
| text field longer than 512 characters (up to 1 MB) | row rejected naming the field; 512 accepted |
| a field beyond the CSV reader's 131,072-character limit | that line rejected, later lines read |
| NUL character in a field | row rejected (PostgreSQL text cannot hold NUL); ``raw`` shows U+FFFD |
| a day with no files | empty dataset (0 accounts) and a warning |

(No ``from __future__ import annotations``: Dagster reads the assets' annotations as types.)

Why one module of this length: the table above is the contract, and one file keeps every case
beside its test.
"""

import csv
import gzip
import io
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance
from daily_runs import materialize_day
from psycopg import sql

from fraud_platform.defs.ingest.logic import (
    MAX_AMOUNT,
    MAX_TEXT_CHARS,
    RAW_MAX_CHARS,
    IngestResult,
    ingest_day,
)
from fraud_platform.defs.ingest.resources import LandingZone
from fraud_platform.deployment import deployment_resources
from fraud_platform.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

DAY = "2024-10-01"
COLUMNS = ["transaction_id", "timestamp", "sender", "receiver", "amount", "currency"]
HEADER = ",".join(COLUMNS) + "\n"
TS = "2024-10-01T10:00:00Z"
HOSTILE = "x'); DROP TABLE fraud.datasets; --"


# -- helpers --------------------------------------------------------------------------------------


def landing(root: Path) -> Path:
    folder = root / f"date={DAY}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write(root: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = landing(root) / name
    data = content.encode(encoding) if isinstance(content, str) else content
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def csv_text(rows: Sequence[Sequence[object]], header: Sequence[str] = COLUMNS) -> str:
    """Rows as CSV the way a careful producer writes it (quoting where needed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_parquet(root: Path, name: str, columns: dict[str, pa.Array | list]) -> Path:
    path = landing(root) / name
    pq.write_table(pa.table(columns), path)
    return path


def ingest(root: Path) -> IngestResult:
    """`ingest_day`, with the invariants every case must keep."""
    result = ingest_day(str(root), DAY)
    assert_accounted(result)
    return result


def assert_accounted(result: IngestResult) -> None:
    """Per file rows read = valid + rejected; every rejected row has file, line, field, reason."""
    for report in result.files:
        assert report.rows_read == report.rows_valid + report.rows_rejected, report
    files = {report.source_file for report in result.files}
    assert set(result.valid["source_file"]) <= files
    assert set(result.rejected["source_file"]) <= files
    assert len(result.valid) + len(result.rejected) == result.rows_read
    rejected = result.rejected
    assert not rejected[["source_file", "line", "field", "reason"]].isna().any().any()
    assert (rejected["field"] != "").all() and (rejected["reason"] != "").all()
    assert result.valid["transaction_id"].is_unique


def counts(result: IngestResult) -> dict[str, tuple[int, int, int]]:
    """File name -> (read, valid, rejected)."""
    return {
        f.source_file.rsplit("/", 1)[1]: (f.rows_read, f.rows_valid, f.rows_rejected)
        for f in result.files
    }


def verdicts(result: IngestResult) -> list[tuple[str, int, str]]:
    """(file name, line, field) of every rejected row, sorted."""
    return sorted(
        (source.rsplit("/", 1)[1], int(line), field)
        for source, line, field in result.rejected[["source_file", "line", "field"]].itertuples(
            index=False
        )
    )


def reason_at(result: IngestResult, line: int, name: str | None = None) -> str:
    rows = result.rejected[result.rejected["line"] == line]
    if name is not None:
        rows = rows[rows["source_file"] == f"date={DAY}/{name}"]
    return str(rows["reason"].item())


def raw_at(result: IngestResult, line: int) -> str:
    return str(result.rejected.loc[result.rejected["line"] == line, "raw"].item())


# -- files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\r\n", b"   \n"])
def test_an_empty_file_reads_nothing(tmp_path: Path, content: bytes) -> None:
    write(tmp_path, "a.csv", content)
    result = ingest(tmp_path)
    assert counts(result) == {"a.csv": (0, 0, 0)}
    assert result.valid.empty and result.rejected.empty


@pytest.mark.parametrize("name", ["a.csv", "a.csv.gz"])
@pytest.mark.parametrize("header", [HEADER, HEADER.rstrip("\n"), "\ufeff" + HEADER])
def test_a_header_only_file_reads_nothing(tmp_path: Path, name: str, header: str) -> None:
    write(tmp_path, name, header)
    result = ingest(tmp_path)
    assert counts(result) == {name: (0, 0, 0)}


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("a.json", b'{"transaction_id": "T1"}', "unknown file format 'a.json'"),
        ("a.csv.bz2", b"BZh9", "unknown file format 'a.csv.bz2'"),
        ("a.CSV", HEADER.encode(), "unknown file format 'a.CSV'"),
        ("a.csv.gz", b"not gzip at all", "unreadable gzip file"),
        ("a.parquet", b"", "unreadable Parquet file"),
        ("a.parquet", b"PAR1 definitely not a footer PAR1", "unreadable Parquet file"),
    ],
    ids=["json", "bz2", "upper-case", "not-gzip", "zero-byte-parquet", "garbage-parquet"],
)
def test_an_unreadable_file_is_one_record(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    (landing(tmp_path) / name).write_bytes(content)
    write(tmp_path, "b.csv", HEADER + f"T1,{TS},A,B,1,USD\n")
    result = ingest(tmp_path)
    assert counts(result) == {name: (1, 0, 1), "b.csv": (1, 1, 0)}
    assert verdicts(result) == [(name, 0, "file")]
    assert reason_at(result, 0).startswith(reason)
    assert result.files[0].error == reason_at(result, 0)


def test_a_truncated_gzip_is_one_record(tmp_path: Path) -> None:
    body = gzip.compress((HEADER + f"T1,{TS},A,B,1,USD\n" * 50).encode())
    (landing(tmp_path) / "a.csv.gz").write_bytes(body[: len(body) // 2])
    result = ingest(tmp_path)
    assert counts(result) == {"a.csv.gz": (1, 0, 1)}
    assert verdicts(result) == [("a.csv.gz", 0, "file")]
    assert "unreadable gzip file" in reason_at(result, 0)


def test_a_truncated_and_a_corrupted_parquet_are_one_record_each(tmp_path: Path) -> None:
    good = write_parquet(
        tmp_path,
        "a.parquet",
        {"transaction_id": ["T1"], "timestamp": [TS], "sender": ["A"], "receiver": ["B"]}
        | {"amount": [1.0]},
    )
    data = good.read_bytes()
    (landing(tmp_path) / "b.parquet").write_bytes(data[:-10])  # footer cut off
    flipped = bytearray(data)
    flipped[-12:-8] = b"\xff\xff\xff\x7f"  # footer length beyond the file
    (landing(tmp_path) / "c.parquet").write_bytes(bytes(flipped))
    result = ingest(tmp_path)
    assert counts(result) == {
        "a.parquet": (1, 1, 0),
        "b.parquet": (1, 0, 1),
        "c.parquet": (1, 0, 1),
    }
    assert verdicts(result) == [("b.parquet", 0, "file"), ("c.parquet", 0, "file")]


def test_hidden_files_and_subfolders_are_not_landing_files(tmp_path: Path) -> None:
    write(tmp_path, "_SUCCESS", "")
    write(tmp_path, ".a.csv.tmp", HEADER + f"T9,{TS},A,B,1,USD\n")
    (landing(tmp_path) / "nested").mkdir()
    (landing(tmp_path) / "nested" / "b.csv").write_text(HEADER + f"T8,{TS},A,B,1,USD\n")
    write(tmp_path, "a.csv", HEADER + f"T1,{TS},A,B,1,USD\n")
    result = ingest(tmp_path)
    assert counts(result) == {"a.csv": (1, 1, 0)}


def test_a_day_without_files_is_empty(tmp_path: Path) -> None:
    landing(tmp_path)  # the folder exists, empty
    result = ingest(tmp_path)
    assert result.files == [] and result.valid.empty and result.rejected.empty
    assert ingest_day(str(tmp_path / "nowhere"), DAY).files == []


# -- columns --------------------------------------------------------------------------------------


def test_a_missing_required_column_rejects_the_whole_file_naming_it(tmp_path: Path) -> None:
    write(tmp_path, "a.csv", f"transaction_id,timestamp,sender,amount\nT1,{TS},A,5\nT2,{TS},A,6\n")
    write_parquet(tmp_path, "b.parquet", {"transaction_id": ["T3"], "sender": ["A"]})
    result = ingest(tmp_path)
    assert counts(result) == {"a.csv": (2, 0, 2), "b.parquet": (1, 0, 1)}
    assert verdicts(result) == [
        ("a.csv", 2, "receiver"),
        ("a.csv", 3, "receiver"),
        ("b.parquet", 2, "timestamp"),
    ]
    assert reason_at(result, 2, "a.csv") == "missing required column(s): receiver"
    assert reason_at(result, 2, "b.parquet") == (
        "missing required column(s): timestamp, receiver, amount"
    )
    assert raw_at(result, 3) == f"T2,{TS},A,6"


def test_a_file_without_its_header_row_is_rejected_not_guessed(tmp_path: Path) -> None:
    write(tmp_path, "a.csv", f"T1,{TS},A,B,1,USD\nT2,{TS},B,C,2,USD\n")
    result = ingest(tmp_path)
    assert counts(result) == {"a.csv": (1, 0, 1)}  # the first row was taken as the header
    assert verdicts(result) == [("a.csv", 2, "transaction_id")]
    assert reason_at(result, 2).startswith("missing required column(s): transaction_id, ")


def test_a_column_named_twice_rejects_the_whole_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        "transaction_id,timestamp,sender,receiver,amount,amount\n"
        f"T1,{TS},A,B,1,100\nT2,{TS},A,B,2,200\n",
    )
    result = ingest(tmp_path)
    assert counts(result) == {"a.csv": (2, 0, 2)}
    assert verdicts(result) == [("a.csv", 2, "amount"), ("a.csv", 3, "amount")]
    assert reason_at(result, 2) == "column(s) named more than once in the header: amount"


def test_headers_are_matched_ignoring_case_and_spaces(tmp_path: Path) -> None:
    """An export that capitalizes its headers is read, in CSV and in Parquet; ``Amount`` beside
    ``amount`` names one column twice."""
    write(tmp_path, "a.csv", f"Transaction_ID, Timestamp ,SENDER,Receiver,Amount\nT1,{TS},A,B,3\n")
    write_parquet(
        tmp_path,
        "b.parquet",
        {
            "TRANSACTION_ID": ["T2"],
            "Timestamp": [TS],
            "Sender": ["A"],
            "Receiver": ["C"],
            "Amount": [4.0],
            "Currency": ["EUR"],
        },
    )
    write(
        tmp_path,
        "c.csv",
        f"transaction_id,timestamp,sender,receiver,amount,Amount\nT3,{TS},A,B,1,2\n",
    )
    result = ingest(tmp_path)
    assert counts(result) == {"a.csv": (1, 1, 0), "b.parquet": (1, 1, 0), "c.csv": (1, 0, 1)}
    valid = result.valid.sort_values("transaction_id")
    assert valid[["transaction_id", "receiver", "amount"]].values.tolist() == [
        ["T1", "B", 3.0],
        ["T2", "C", 4.0],
    ]
    assert valid["currency"].isna().tolist() == [True, False] and valid["currency"].iloc[1] == "EUR"
    assert reason_at(result, 2, "c.csv") == "column(s) named more than once in the header: amount"


def test_extra_and_reordered_columns_are_read_and_raw_keeps_the_file_order(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        "a.csv",
        "note,amount, receiver ,sender,timestamp,transaction_id,currency\n"
        f"hi,12.5,B,A,{TS},T1,EUR\n"
        f"yo,-1,C,A,{TS},T2,EUR\n",
    )
    result = ingest(tmp_path)
    assert result.valid[
        ["transaction_id", "sender", "receiver", "amount", "currency"]
    ].values.tolist() == [["T1", "A", "B", 12.5, "EUR"]]
    assert verdicts(result) == [("a.csv", 3, "amount")]
    assert raw_at(result, 3) == f"-1,C,A,{TS},T2,EUR"  # the extra `note` is not a contract field


# -- types and values -----------------------------------------------------------------------------


def test_text_that_looks_like_numbers_stays_text(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER + f"007,{TS},0042,1e3,1,USD\ntrue,{TS},NaN,NULL,2,\n",
    )
    result = ingest(tmp_path)
    assert result.valid[["transaction_id", "sender", "receiver", "amount"]].values.tolist() == [
        ["007", "0042", "1e3", 1.0],
        ["true", "NaN", "NULL", 2.0],
    ]
    assert result.valid["currency"].isna().tolist() == [False, True]


def test_wrong_types_in_csv_are_rejected_on_their_field(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER
        + f"T1,{TS},A,B,ten,USD\n"  # 2
        + "T2,1727776800,A,B,1,USD\n"  # 3: epoch seconds are not ISO-8601
        + "T3,yesterday,A,B,1,USD\n"  # 4
        + "T4,2024-10-01,A,B,1,USD\n"  # 5: a date alone is midnight UTC: valid
        + f'T5,{TS},A,B,"1,5",USD\n'  # 6: decimal comma
        + f"T6,{TS},A,B,$5,USD\n",  # 7
    )
    result = ingest(tmp_path)
    assert result.valid["transaction_id"].tolist() == ["T4"]
    assert verdicts(result) == [
        ("a.csv", 2, "amount"),
        ("a.csv", 3, "timestamp"),
        ("a.csv", 4, "timestamp"),
        ("a.csv", 6, "amount"),
        ("a.csv", 7, "amount"),
    ]
    assert reason_at(result, 3) == "unparseable timestamp (expected ISO-8601)"
    assert raw_at(result, 6) == f'T5,{TS},A,B,"1,5",USD'


def test_typed_parquet_columns_are_read_by_value(tmp_path: Path) -> None:
    write_parquet(
        tmp_path,
        "a.parquet",
        {
            "transaction_id": pa.array([1, 2, 3, 4], pa.int64()),
            "timestamp": pa.array([pd.Timestamp("2024-10-01T12:00:00")] * 4, pa.timestamp("ms")),
            "sender": pa.array([10, 11, 12, 13], pa.int32()),
            "receiver": pa.array(["B", None, "C", "D"]),
            "amount": pa.array(["5.25", "1", "x", "2"]),  # text amounts
            "currency": pa.array([b"EUR", b"USD", b"GBP", b"USD"], pa.binary()),
        },
    )
    write_parquet(
        tmp_path,
        "b.parquet",
        {
            "transaction_id": ["E1", "B1"],
            "timestamp": pa.array([1727776800, 1727776800], pa.int64()),  # epoch: not ISO-8601
            "sender": ["A", "A"],
            "receiver": ["B", "B"],
            "amount": pa.array([True, True]),
        },
    )
    result = ingest(tmp_path)
    assert result.valid[
        ["transaction_id", "sender", "receiver", "amount", "currency"]
    ].values.tolist() == [
        ["1", "10", "B", 5.25, "EUR"],
        ["4", "13", "D", 2.0, "USD"],
    ]
    assert result.valid["timestamp"].tolist() == [pd.Timestamp("2024-10-01T12:00:00Z")] * 2
    assert verdicts(result) == [
        ("a.parquet", 3, "receiver"),
        ("a.parquet", 4, "amount"),
        ("b.parquet", 2, "timestamp"),
        ("b.parquet", 3, "timestamp"),
    ]


def test_parquet_text_that_is_not_utf8_makes_the_file_unreadable(tmp_path: Path) -> None:
    write_parquet(
        tmp_path,
        "a.parquet",
        {
            "transaction_id": ["T1"],
            "timestamp": [TS],
            "sender": pa.array([b"\xff\xfe"], pa.binary()),
            "receiver": ["B"],
            "amount": [1.0],
        },
    )
    result = ingest(tmp_path)
    assert verdicts(result) == [("a.parquet", 0, "file")]
    assert "UTF8" in reason_at(result, 0) or "UTF-8" in reason_at(result, 0)


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("-5", "amount must be greater than zero"),
        ("0", "amount must be greater than zero"),
        ("-0.0", "amount must be greater than zero"),
        ("NaN", "amount is not a number"),
        ("nan", "amount is not a number"),
        ("", "amount is not a number"),
        ("inf", "amount is not finite"),
        ("-Infinity", "amount is not finite"),
        ("1e309", "amount is not finite"),
        (f"{MAX_AMOUNT * 10:.0f}", "amount above the maximum of 1e+12"),
        ("1" + "0" * 400, "amount is not finite"),
        ("0x10", "amount is not a number"),
    ],
)
def test_bad_amounts_are_rejected(tmp_path: Path, amount: str, reason: str) -> None:
    write(tmp_path, "a.csv", HEADER + f"T1,{TS},A,B,{amount},USD\nT2,{TS},A,B,{MAX_AMOUNT:.0f},\n")
    result = ingest(tmp_path)
    assert result.valid["amount"].tolist() == [MAX_AMOUNT]  # the maximum itself is a transfer
    assert verdicts(result) == [("a.csv", 2, "amount")]
    assert reason_at(result, 2) == reason


@pytest.mark.parametrize("amount", [float("nan"), float("inf"), -1.0, 0.0, 2e12])
def test_bad_parquet_amounts_are_rejected(tmp_path: Path, amount: float) -> None:
    write_parquet(
        tmp_path,
        "a.parquet",
        {"transaction_id": ["T1"], "timestamp": [TS], "sender": ["A"], "receiver": ["B"]}
        | {"amount": [amount]},
    )
    result = ingest(tmp_path)
    assert verdicts(result) == [("a.parquet", 2, "amount")]


def test_timestamps_outside_the_day_or_unparseable_are_rejected(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER
        + "T1,2024-10-01T00:00:00Z,A,B,1,USD\n"  # 2: first instant of the day
        + "T2,2024-10-01T23:59:59.999999Z,A,B,1,USD\n"  # 3: last microsecond
        + "T3,2024-10-02T00:00:00Z,A,B,1,USD\n"  # 4: next day
        + "T4,2024-09-30T23:59:59Z,A,B,1,USD\n"  # 5: previous day
        + "T5,2024-10-01T23:30:00-02:00,A,B,1,USD\n"  # 6: 01:30 next day in UTC
        + "T6,2024-10-02T01:00:00+02:00,A,B,1,USD\n"  # 7: 23:00 UTC: inside
        + "T7,2024-10-01 08:00:00,A,B,1,USD\n"  # 8: naive, space separator: UTC
        + "T8,2024-13-01T00:00:00Z,A,B,1,USD\n"  # 9: month 13
        + "T9,01/10/2024 10:00,A,B,1,USD\n"  # 10: not ISO-8601
        + "T10,,A,B,1,USD\n",  # 11: empty
    )
    result = ingest(tmp_path)
    assert result.valid["transaction_id"].tolist() == ["T1", "T2", "T6", "T7"]
    assert result.valid["timestamp"].tolist()[2:] == [
        pd.Timestamp("2024-10-01T23:00:00Z"),
        pd.Timestamp("2024-10-01T08:00:00Z"),
    ]
    assert [line for _, line, _ in verdicts(result)] == [4, 5, 6, 9, 10, 11]
    assert {field for _, _, field in verdicts(result)} == {"timestamp"}
    assert reason_at(result, 4) == "timestamp outside the partition day 2024-10-01 (UTC)"
    assert reason_at(result, 9) == "unparseable timestamp (expected ISO-8601)"


def test_duplicates_within_and_across_files_keep_the_first_and_raw_as_read(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER
        + "T1,2024-10-01T10:00:00Z,A,B,1,USD\n"
        + "T1,2024-10-01T10:00:00Z,A,B,1,USD\n"  # exact repeat
        + "T2,2024-10-01T11:00:00+02:00,A,C,2.50,\n",
    )
    write(
        tmp_path,
        "b.csv.gz",
        HEADER + "T2,2024-10-01T09:00:00Z,C,D,007,EUR\nT3,2024-10-01T09:00:00Z,C,D,3,EUR\n",
    )
    write_parquet(
        tmp_path,
        "c.parquet",
        {"transaction_id": ["T3", "T1"], "timestamp": [TS, TS], "sender": ["E", "E"]}
        | {"receiver": ["F", "F"], "amount": [4.0, 5.0]},
    )
    result = ingest(tmp_path)
    assert result.valid[["transaction_id", "source_file", "line"]].values.tolist() == [
        ["T1", f"date={DAY}/a.csv", 2],
        ["T2", f"date={DAY}/a.csv", 4],
        ["T3", f"date={DAY}/b.csv.gz", 3],
    ]
    assert counts(result) == {"a.csv": (3, 2, 1), "b.csv.gz": (2, 1, 1), "c.parquet": (2, 0, 2)}
    assert verdicts(result) == [
        ("a.csv", 3, "transaction_id"),
        ("b.csv.gz", 2, "transaction_id"),
        ("c.parquet", 2, "transaction_id"),
        ("c.parquet", 3, "transaction_id"),
    ]
    assert reason_at(result, 2, "b.csv.gz") == (
        f"duplicate transaction_id (first seen in date={DAY}/a.csv line 4)"
    )
    assert reason_at(result, 2, "c.parquet") == (
        f"duplicate transaction_id (first seen in date={DAY}/b.csv.gz line 3)"
    )
    # `raw` is the row as read, not as parsed: "007" and the Z suffix survive.
    raws = result.rejected.set_index(["source_file", "line"])["raw"]
    assert raws[(f"date={DAY}/b.csv.gz", 2)] == "T2,2024-10-01T09:00:00Z,C,D,007,EUR"
    assert raws[(f"date={DAY}/a.csv", 3)] == "T1,2024-10-01T10:00:00Z,A,B,1,USD"
    assert raws[(f"date={DAY}/c.parquet", 3)] == f"T1,{TS},E,F,5.0"


def test_self_transfers_are_rejected(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER + f"T1,{TS},A,A,1,USD\nT2,{TS}, A ,A,1,USD\nT3,{TS},A,a,1,USD\n",
    )
    result = ingest(tmp_path)
    assert result.valid["transaction_id"].tolist() == ["T3"]  # ids are case-sensitive
    assert verdicts(result) == [("a.csv", 2, "receiver"), ("a.csv", 3, "receiver")]
    assert reason_at(result, 2) == "self-transfer (sender equals receiver)"


def test_empty_ids_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, "a.csv", HEADER + f",{TS},A,B,1,USD\nT2,{TS},  ,B,1,USD\nT3,{TS},A,,1,USD\n")
    result = ingest(tmp_path)
    assert verdicts(result) == [
        ("a.csv", 2, "transaction_id"),
        ("a.csv", 3, "sender"),
        ("a.csv", 4, "receiver"),
    ]


# -- encodings ------------------------------------------------------------------------------------

INTERNATIONAL = ["Алиса Петрова", "山田太郎", "💸🦊 mule", "Zoë Müller"]


@pytest.mark.parametrize(
    ("prefix", "newline"), [("", "\n"), ("\ufeff", "\n"), ("\ufeff", "\r\n"), ("", "\r\n")]
)
def test_utf8_with_and_without_bom_and_crlf(tmp_path: Path, prefix: str, newline: str) -> None:
    rows = [[f"T{i}", TS, INTERNATIONAL[i], INTERNATIONAL[(i + 1) % 4], 1, "RUB"] for i in range(4)]
    write(tmp_path, "a.csv", prefix + csv_text(rows).replace("\n", newline))
    result = ingest(tmp_path)
    assert result.valid["sender"].tolist() == INTERNATIONAL
    assert result.valid["receiver"].tolist() == INTERNATIONAL[1:] + INTERNATIONAL[:1]
    assert result.valid["line"].tolist() == [2, 3, 4, 5]
    assert result.valid["currency"].tolist() == ["RUB"] * 4


def test_latin1_files_and_lines_are_read_as_latin1(tmp_path: Path) -> None:
    write(tmp_path, "a.csv", HEADER + f"T1,{TS},Zoë,Müller,1,EUR\n", encoding="latin-1")
    # One Latin-1 line in a UTF-8 file: only that line is read as Latin-1.
    mixed = (HEADER + f"T2,{TS},Алиса,山田,1,EUR\n").encode() + f"T3,{TS},Zoë,Ñu,1,EUR\n".encode(
        "latin-1"
    )
    write(tmp_path, "b.csv", mixed)
    result = ingest(tmp_path)
    assert result.valid[["sender", "receiver"]].values.tolist() == [
        ["Zoë", "Müller"],
        ["Алиса", "山田"],
        ["Zoë", "Ñu"],
    ]


# -- malformed CSV --------------------------------------------------------------------------------


def test_an_unbalanced_quote_costs_one_line(tmp_path: Path) -> None:
    broken = f'T2,{TS},"A,B,2,USD'
    write(
        tmp_path,
        "a.csv",
        HEADER + f"T1,{TS},A,B,1,USD\n" + broken + "\n" + f"T3,{TS},A,B,3,USD\nT4,{TS},C,D,4,USD\n",
    )
    write(tmp_path, "b.csv", HEADER + f'T5,{TS},A,B,1,USD\nT6,{TS},A,B,1,"USD\n')  # at the end
    result = ingest(tmp_path)
    assert result.valid["transaction_id"].tolist() == ["T1", "T3", "T4", "T5"]
    assert result.valid["line"].tolist() == [2, 4, 5, 2]
    assert counts(result) == {"a.csv": (4, 3, 1), "b.csv": (2, 1, 1)}
    assert verdicts(result) == [("a.csv", 3, "row"), ("b.csv", 3, "row")]
    rejected = result.rejected.set_index("source_file")
    assert rejected.loc[f"date={DAY}/a.csv", "raw"] == broken
    assert rejected.loc[f"date={DAY}/a.csv", "reason"].startswith("unbalanced quote")
    assert rejected.loc[f"date={DAY}/b.csv", "reason"] == (
        "unbalanced quote: a quoted value runs to the end of the file"
    )


def test_ragged_rows_and_bad_quoting_are_rejected_with_their_text(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER
        + f"T1,{TS},A,B,1,USD\n"  # 2
        + f"T2,{TS},A,B\n"  # 3: too few
        + f"T3,{TS},A,B,1,USD,extra\n"  # 4: too many
        + f'T4,{TS},"A"x,B,1,USD\n'  # 5: text after a closing quote
        + f"T5,{TS},C,D,2,USD\n",  # 6
    )
    result = ingest(tmp_path)
    assert result.valid["transaction_id"].tolist() == ["T1", "T5"]
    assert verdicts(result) == [("a.csv", 3, "row"), ("a.csv", 4, "row"), ("a.csv", 5, "row")]
    assert reason_at(result, 3) == "expected 6 fields, found 4"
    assert reason_at(result, 4) == "expected 6 fields, found 7"
    assert reason_at(result, 5).startswith("malformed CSV: ")
    assert raw_at(result, 4) == f"T3,{TS},A,B,1,USD,extra"


def test_blank_lines_and_quoted_newlines_keep_physical_line_numbers(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER
        + f"T1,{TS},A,B,1,USD\n"  # 2
        + "\n"  # 3
        + f'T2,{TS},"two\nlines",B,1,USD\n'  # 4-5
        + "\r\n"  # 6
        + f"T3,{TS},C,D,1,USD\n",  # 7
    )
    write(tmp_path, "b.csv", HEADER + f"T4,{TS},A,B,1,USD\n\n\nT5,{TS},A,B,1,USD\n")
    result = ingest(tmp_path)
    assert result.valid[["transaction_id", "line"]].values.tolist() == [
        ["T1", 2],
        ["T2", 4],
        ["T3", 7],
        ["T4", 2],
        ["T5", 5],
    ]
    assert result.valid["sender"].tolist()[1] == "two\nlines"
    assert counts(result) == {"a.csv": (3, 3, 0), "b.csv": (2, 2, 0)}


# -- hostile text, limits, NUL --------------------------------------------------------------------


def test_sql_looking_ids_are_kept_verbatim(tmp_path: Path) -> None:
    ids = [HOSTILE, "Robert'); DROP TABLE students;--", 'a"b', "\\N", "\\.", "NULL", "$1"]
    rows = [[f"T{i}", TS, sender, "B", 1, "USD"] for i, sender in enumerate(ids)]
    write(tmp_path, "a.csv", csv_text(rows))
    result = ingest(tmp_path)
    assert result.valid["sender"].tolist() == ids


def test_text_fields_are_limited_to_512_characters(tmp_path: Path) -> None:
    at_limit = "L" * MAX_TEXT_CHARS
    rows = [
        ["T1", TS, at_limit, "B", 1, "USD"],  # 2: exactly the limit: kept
        ["T2", TS, at_limit + "L", "B", 1, "USD"],  # 3
        ["T3", TS, "A", "R" * 1_000_000, 1, "USD"],  # 4: a megabyte
        ["T" * 513, TS, "A", "B", 1, "USD"],  # 5
        ["T5", TS, "A", "B", 1, "C" * 513],  # 6
        ["T6", TS, "A", "Я" * MAX_TEXT_CHARS, 1, "USD"],  # 7: 512 characters, 1,024 bytes
    ]
    write(tmp_path, "a.csv", csv_text(rows))
    result = ingest(tmp_path)
    assert result.valid["transaction_id"].tolist() == ["T1", "T6"]
    assert result.valid["sender"].str.len().tolist() == [512, 1]
    assert verdicts(result) == [
        ("a.csv", 3, "sender"),
        ("a.csv", 4, "receiver"),
        ("a.csv", 5, "transaction_id"),
        ("a.csv", 6, "currency"),
    ]
    assert reason_at(result, 4) == "receiver longer than 512 characters"
    assert len(raw_at(result, 4)) == RAW_MAX_CHARS
    assert raw_at(result, 4).startswith(f"T3,{TS},A,RRR")


def test_a_field_beyond_the_csv_readers_limit_costs_one_line(tmp_path: Path) -> None:
    # A quoted newline sends the file to the standard-library reader, whose fields stop at
    # 131,072 characters; that line is rejected and reading goes on.
    write(
        tmp_path,
        "a.csv",
        HEADER
        + f'T1,{TS},"multi\nline",B,1,USD\n'  # 2-3
        + f"T2,{TS},{'x' * 200_000},B,1,USD\n"  # 4
        + f"T3,{TS},C,D,1,USD\n",  # 5
    )
    result = ingest(tmp_path)
    assert result.valid[["transaction_id", "line"]].values.tolist() == [["T1", 2], ["T3", 5]]
    assert verdicts(result) == [("a.csv", 4, "row")]
    assert reason_at(result, 4) == "malformed CSV: field larger than field limit (131072)"


def test_nul_characters_reject_the_row(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER
        + f"T1,{TS},A\x00B,C,1,USD\n"  # 2
        + f"T2,{TS},A,B,1\x00,USD\n"  # 3
        + f"T3\x00,{TS},A,B,1,USD\n"  # 4
        + f"T4,{TS},A,B,1,USD\n",  # 5
    )
    write_parquet(
        tmp_path,
        "b.parquet",
        {"transaction_id": ["P1", "P2"], "timestamp": [TS, TS], "sender": ["A", "A"]}
        | {"receiver": ["\x00", "B"], "amount": [1.0, 2.0], "currency": ["USD", "US\x00D"]},
    )
    result = ingest(tmp_path)
    assert result.valid["transaction_id"].tolist() == ["T4"]
    assert verdicts(result) == [
        ("a.csv", 2, "sender"),
        ("a.csv", 3, "amount"),
        ("a.csv", 4, "transaction_id"),
        ("b.parquet", 2, "receiver"),
        ("b.parquet", 3, "currency"),
    ]
    assert (
        reason_at(result, 2, "a.csv") == "NUL character in sender (PostgreSQL text cannot hold it)"
    )
    assert result.rejected["raw"].str.contains("\x00", regex=False).sum() == 0
    assert (
        result.rejected.set_index(["source_file", "line"])["raw"][(f"date={DAY}/a.csv", 2)]
        == f"T1,{TS},A\ufffdB,C,1,USD"
    )


# -- whole days through Dagster into PostgreSQL ---------------------------------------------------


@pytest.fixture
def settings(storage_dir: Path, database_url: str, warehouse_schema: str, monkeypatch) -> Settings:
    monkeypatch.setenv("FRAUD_DATABASE_URL", database_url)
    return Settings(
        storage_url=str(storage_dir),
        database_url=database_url,
        viewer_base_url="http://viewer.test",
        high_risk_threshold=0.8,
        database_schema=warehouse_schema,
    )


def landing_root(settings: Settings) -> Path:
    return Path(settings.landing_url)


def run_day(settings: Settings, day: str = DAY, instance: DagsterInstance | None = None):
    """One day through every daily asset. These days are mostly bad rows on purpose, so the
    rejected-share check only warns (its ERROR would rightly block the day's graph)."""
    resources = deployment_resources(settings)
    resources["landing_zone"] = LandingZone(
        url=settings.landing_url, rejected_warn_share=0.0, rejected_error_share=1.0
    )
    result = materialize_day(settings, day, resources=resources, instance=instance)
    assert result.success
    return result


def warehouse_rows(settings: Settings, statement: str, *params: object) -> list[tuple]:
    with psycopg.connect(str(settings.database_url)) as connection:
        composed = sql.SQL(statement).format(s=sql.Identifier(settings.database_schema))
        return connection.execute(composed, params).fetchall()


def assert_warehouse_matches(settings: Settings, result, expected: IngestResult) -> None:
    """The warehouse holds exactly the rejected rows `ingest_day` found, each fully explained;
    the stored transactions are exactly its valid rows; nothing lost, nothing doubled."""
    stored = warehouse_rows(
        settings,
        "SELECT source_file, line, field, reason, raw FROM {s}.rejected_transactions "
        "WHERE partition_date = %s",
        DAY,
    )
    for source_file, line, field, reason, raw in stored:
        assert source_file and field and reason and raw is not None
        assert line is not None and line >= 0
    assert sorted(stored) == sorted(
        expected.rejected[["source_file", "line", "field", "reason", "raw"]].itertuples(
            index=False, name=None
        )
    )
    metadata = result.asset_materializations_for_node("raw_transactions")[0].metadata
    assert metadata["rows_read"].value == expected.rows_read
    assert metadata["rows_valid"].value == len(expected.valid)
    assert metadata["rows_rejected"].value == len(expected.rejected) == len(stored)
    raw = pd.read_parquet(Path(settings.assets_url) / "raw_transactions" / f"{DAY}.parquet")
    assert sorted(raw["transaction_id"]) == sorted(expected.valid["transaction_id"])


def test_e2e_hostile_and_international_ids_are_stored_verbatim(settings: Settings) -> None:
    root = landing_root(settings)
    accounts = [HOSTILE, *INTERNATIONAL[:3], 'say "hi"', "back\\slash \\N", "L" * MAX_TEXT_CHARS]
    ring = [
        [f"T{i}", TS, a, accounts[(i + 1) % len(accounts)], 10 + i, "USD"]
        for i, a in enumerate(accounts)
    ]
    write(root, "a.csv", "\ufeff" + csv_text(ring))
    write(root, "b.csv", HEADER + f"L1,{TS},Zoë,{HOSTILE},1,EUR\n", encoding="latin-1")
    bad = [
        ["X1", TS, "nul\x00here", "B", 1, "USD"],
        ["X2", TS, "M" * 1_000_000, "B", 1, "USD"],
        ["X3", TS, "A", "L" * (MAX_TEXT_CHARS + 1), 1, "USD"],
    ]
    write(root, "c.csv", csv_text(bad))
    expected = ingest(root)
    assert verdicts(expected) == [
        ("c.csv", 2, "sender"),
        ("c.csv", 3, "sender"),
        ("c.csv", 4, "receiver"),
    ]

    result = run_day(settings)

    assert_warehouse_matches(settings, result, expected)
    stored_accounts = {
        account
        for (account,) in warehouse_rows(
            settings, "SELECT account FROM {s}.dataset_nodes WHERE partition_date = %s", DAY
        )
    }
    assert stored_accounts == {*accounts, "Zoë"}
    edges = warehouse_rows(settings, "SELECT sender, receiver FROM {s}.dataset_edges")
    assert ("Zoë", HOSTILE) in edges and (HOSTILE, INTERNATIONAL[0]) in edges
    # The hostile id was data, not SQL: the tables it names are all still there.
    assert warehouse_rows(settings, "SELECT count(*) FROM {s}.datasets") == [(1,)]
    raws = dict(
        warehouse_rows(settings, "SELECT line, raw FROM {s}.rejected_transactions ORDER BY line")
    )
    assert raws[2] == f"X1,{TS},nul\ufffdhere,B,1,USD"
    assert len(raws[3]) == RAW_MAX_CHARS


@pytest.mark.slow
def test_e2e_broken_files_are_explained_in_the_warehouse(settings: Settings) -> None:
    root = landing_root(settings)
    write(root, "a-good.csv", HEADER + f"G1,{TS},A,B,5,USD\nG2,{TS},B,C,5,USD\nG3,{TS},C,A,5,USD\n")
    body = gzip.compress((HEADER + f"Z1,{TS},A,B,1,USD\n" * 100).encode())
    (landing(root) / "b-truncated.csv.gz").write_bytes(body[: len(body) // 2])
    write(root, "c-empty.csv", b"")
    write(root, "d-header-only.csv", HEADER)
    (landing(root) / "e-zero.parquet").write_bytes(b"")
    (landing(root) / "f-corrupt.parquet").write_bytes(b"PAR1\x00\x01garbagePAR1")
    write(root, "g-notes.txt", "not a landing file")
    write(
        root,
        "h-missing.csv",
        f"transaction_id,timestamp,sender,receiver\nM1,{TS},A,B\nM2,{TS},A,B\n",
    )
    write(
        root,
        "i-malformed.csv",
        HEADER + f'Q1,{TS},"A,B,1,USD\nQ2,{TS},A,B\nQ3,{TS},D,E,1,USD\n',
    )
    expected = ingest(root)
    assert counts(expected) == {
        "a-good.csv": (3, 3, 0),
        "b-truncated.csv.gz": (1, 0, 1),
        "c-empty.csv": (0, 0, 0),
        "d-header-only.csv": (0, 0, 0),
        "e-zero.parquet": (1, 0, 1),
        "f-corrupt.parquet": (1, 0, 1),
        "g-notes.txt": (1, 0, 1),
        "h-missing.csv": (2, 0, 2),
        "i-malformed.csv": (3, 1, 2),
    }

    result = run_day(settings)

    assert_warehouse_matches(settings, result, expected)
    assert warehouse_rows(
        settings, "SELECT source_file, line, field FROM {s}.rejected_transactions ORDER BY 1, 2"
    ) == [
        (f"date={DAY}/b-truncated.csv.gz", 0, "file"),
        (f"date={DAY}/e-zero.parquet", 0, "file"),
        (f"date={DAY}/f-corrupt.parquet", 0, "file"),
        (f"date={DAY}/g-notes.txt", 0, "file"),
        (f"date={DAY}/h-missing.csv", 2, "amount"),
        (f"date={DAY}/h-missing.csv", 3, "amount"),
        (f"date={DAY}/i-malformed.csv", 2, "row"),
        (f"date={DAY}/i-malformed.csv", 3, "row"),
    ]
    assert warehouse_rows(settings, "SELECT node_count, edge_count FROM {s}.datasets") == [(5, 4)]


@pytest.mark.slow
def test_e2e_bad_values_and_duplicates_are_explained_in_the_warehouse(
    settings: Settings,
) -> None:
    root = landing_root(settings)
    write(
        root,
        "a.csv",
        HEADER
        + f"V1,{TS},A,B,10,USD\n"
        + f"V2,{TS},A,B,-1,USD\n"
        + f"V3,{TS},A,B,NaN,USD\n"
        + f"V4,{TS},A,B,inf,USD\n"
        + f"V5,{TS},A,B,1e13,USD\n"
        + "V6,2024-10-02T00:00:00Z,A,B,1,USD\n"
        + "V7,noon,A,B,1,USD\n"
        + f"V8,{TS},C,C,1,USD\n"
        + f"V1,{TS},A,B,10,USD\n",
    )
    write_parquet(
        root,
        "b.parquet",
        {"transaction_id": ["V1", "P1"], "timestamp": [TS, TS], "sender": ["B", "B"]}
        | {"receiver": ["C", "C"], "amount": [1.0, 0.0]},
    )
    expected = ingest(root)
    assert counts(expected) == {"a.csv": (9, 1, 8), "b.parquet": (2, 0, 2)}

    result = run_day(settings)

    assert_warehouse_matches(settings, result, expected)
    a, b = f"date={DAY}/a.csv", f"date={DAY}/b.parquet"
    assert warehouse_rows(
        settings,
        "SELECT source_file, line, field, raw FROM {s}.rejected_transactions ORDER BY 1, 2",
    ) == [
        (a, 3, "amount", f"V2,{TS},A,B,-1,USD"),
        (a, 4, "amount", f"V3,{TS},A,B,NaN,USD"),
        (a, 5, "amount", f"V4,{TS},A,B,inf,USD"),
        (a, 6, "amount", f"V5,{TS},A,B,1e13,USD"),
        (a, 7, "timestamp", "V6,2024-10-02T00:00:00Z,A,B,1,USD"),
        (a, 8, "timestamp", "V7,noon,A,B,1,USD"),
        (a, 9, "receiver", f"V8,{TS},C,C,1,USD"),
        (a, 10, "transaction_id", f"V1,{TS},A,B,10,USD"),
        (b, 2, "transaction_id", f"V1,{TS},B,C,1.0"),
        (b, 3, "amount", f"P1,{TS},B,C,0.0"),
    ]


@pytest.mark.slow
def test_e2e_a_day_without_files_is_an_empty_dataset_and_a_warning(settings: Settings) -> None:
    instance = DagsterInstance.ephemeral()
    result = run_day(settings, "2024-10-05", instance=instance)
    assert warehouse_rows(
        settings, "SELECT node_count, edge_count, high_risk_count FROM {s}.datasets"
    ) == [(0, 0, 0)]
    assert warehouse_rows(settings, "SELECT count(*) FROM {s}.rejected_transactions") == [(0,)]
    warnings = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.level == logging.WARNING
    ]
    assert "No landing files for 2024-10-05" in warnings
