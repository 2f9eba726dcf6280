"""Validation of landing files: every row is kept or rejected with file, line, field, reason.

Why one module of this length: one test per validation rule and reader, in the order of the rules.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from upath import UPath

from fraud_platform.defs.ingest import (
    csv_reader,
    duplicates,
    gzip_reader,
    logic,
    parquet_reader,
    reader,
    stream,
)
from fraud_platform.defs.ingest.logic import (
    MAX_AMOUNT,
    FileTooLargeError,
    IngestResult,
    LandingFile,
    ingest_day,
    raw_transaction_schema,
    read_landing_file,
    stream_day,
    validate_batch,
    validate_transactions,
)
from fraud_platform.defs.ingest.resources import LandingZone
from fraud_platform.sample_data import SampleConfig, generate_day, write_day
from fraud_platform.tables import RAW_TRANSACTION_COLUMNS

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


# -- the fast paths follow the pandas rules -------------------------------------------------------

ODD_TIMESTAMPS = [
    "2024-10-01",
    "2024-10-01T10",
    "2024-10-01T10:00",
    "2024-10-01T10:00:00.1234567",
    "2024-10-01T10:00:00.123456789Z",
    "2024-10-01T12:00:00+0200",
    "2024-10-01T12:00:00+02",
    "2024-10-01T12:00:00 +02:00",
    "2024-10-01t10:00:00z",
    " 2024-10-01T10:00:00Z ",
    "2024-02-30T10:00:00Z",
    "2024-10-01T24:00:00",
    "2024-10-01T23:59:60Z",
    "2024-10-01T10:00:00+24:00",
    "2263-01-01T00:00:00Z",
    "1677-01-01T00:00:00",
    "2024-10-01T10:00:00.",
    "noon",
    "",
    "1727776800",
    "2024-13-45T99:00",
    "20241001T100000",
]
ODD_AMOUNTS = [
    "1e3",
    " 42.10 ",
    ".5",
    "5.",
    "+7",
    "-0",
    "-12.5",
    "0x10",
    "1,5",
    "NaN",
    "inf",
    "-Infinity",
    "1e309",
    "1234567890123456.5",
    "0000000000000000001.5",
    "1.2.3",
    "",
    "\u0967\u0968",
    "12.5\u00a0",
]


def generated_values(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    """Timestamps in the shapes parsed from bytes (around the day, every zone and fraction
    length), and plain decimal amounts; odd values of both mixed in."""
    start = pd.Timestamp(DAY)
    micros = rng.integers(-86_400, 2 * 86_400, n) * 1_000_000 + rng.integers(0, 10**6, n)
    moments = start + pd.to_timedelta(micros, unit="us")
    offsets = rng.integers(-14 * 60, 14 * 60 + 1, n)
    timestamps = []
    for moment, offset, shape in zip(moments, offsets, rng.integers(0, 6, n), strict=True):
        digits = int(rng.integers(1, 7))
        fraction = f".{moment.microsecond:06d}"[: digits + 1] if shape % 2 else ""
        separator = "T" if shape < 4 else " "
        text = moment.strftime(f"%Y-%m-%d{separator}%H:%M:%S") + fraction
        if shape in (0, 1):
            local = moment + pd.Timedelta(minutes=int(offset))
            sign, minutes = ("+" if offset >= 0 else "-"), abs(int(offset))
            zone = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
            text = local.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone
        elif shape in (2, 3):
            text += "Z"
        timestamps.append(text)
    amounts = [
        f"{value:.{places}f}"
        for value, places in zip(np.exp(rng.normal(3, 4, n)), rng.integers(0, 5, n), strict=True)
    ]
    for index in rng.choice(n, len(ODD_TIMESTAMPS) * 3, replace=False):
        timestamps[index] = ODD_TIMESTAMPS[index % len(ODD_TIMESTAMPS)]
    for index in rng.choice(n, len(ODD_AMOUNTS) * 3, replace=False):
        amounts[index] = ODD_AMOUNTS[index % len(ODD_AMOUNTS)]
    return timestamps, amounts


def test_timestamps_and_amounts_follow_pandas_on_every_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values parsed from their bytes and the odd ones left to pandas come out as
    ``pd.to_datetime(format="ISO8601", utc=True)`` and ``pd.to_numeric`` read the whole column,
    whatever the batches."""
    timestamps, amounts = generated_values(np.random.default_rng(7), 4_000)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["transaction_id", "timestamp", "sender", "receiver", "amount", "currency"])
    writer.writerows(
        [f"T{i}", ts, f"A{i}", f"B{i}", amount, "USD"]
        for i, (ts, amount) in enumerate(zip(timestamps, amounts, strict=True))
    )
    write(tmp_path, "a.csv", out.getvalue())
    monkeypatch.setattr(stream, "BATCH_ROWS", 97)
    result = ingest_day(str(tmp_path), DAY)

    parsed = pd.to_datetime(
        pd.Series(timestamps, dtype="str").str.strip(), utc=True, format="ISO8601", errors="coerce"
    ).astype("datetime64[us, UTC]")
    values = pd.to_numeric(pd.Series(amounts, dtype="str").str.strip(), errors="coerce")
    values = values.astype("float64")
    start = pd.Timestamp(DAY, tz="UTC")
    expected = {}
    for line, (moment, value) in enumerate(zip(parsed, values, strict=True), start=2):
        if moment is pd.NaT:
            expected[line] = "unparseable timestamp (expected ISO-8601)"
        elif not start <= moment < start + pd.Timedelta(days=1):
            expected[line] = f"timestamp outside the partition day {DAY} (UTC)"
        elif np.isnan(value):
            expected[line] = "amount is not a number"
        elif np.isinf(value):
            expected[line] = "amount is not finite"
        elif value <= 0:
            expected[line] = "amount must be greater than zero"
        elif value > MAX_AMOUNT:
            expected[line] = "amount above the maximum of 1e+12"
    assert {line: reason for line, (_, reason) in rejected_by_line(result).items()} == expected
    valid = result.valid.set_index("line")
    kept = [line for line in range(2, len(timestamps) + 2) if line not in expected]
    assert valid.index.tolist() == kept
    rows = np.array(kept) - 2
    assert valid["timestamp"].tolist() == parsed.iloc[rows].tolist()
    assert valid["amount"].to_numpy().tobytes() == values.iloc[rows].to_numpy().tobytes()
    assert len(result.valid) > 1_000 and len(expected) > 2_000  # both paths were exercised


def day_of_every_kind(folder: Path) -> None:
    """A small day with valid, bad and duplicate rows in CSV, gzip and Parquet."""
    write(
        folder,
        "a.csv",
        HEADER
        + "".join(
            f"T{i},2024-10-01T10:{i % 60:02d}:00Z,A{i % 7},B{i % 5},{i}.25,USD\n" for i in range(40)
        )
        + "T3,2024-10-01T11:00:00,C,D,3,EUR\n"
        + "X1,2024-10-02T00:00:00Z,C,D,3,EUR\n"
        + "X2,2024-10-01T01:00:00+02:00,C,C,3,\n",
    )
    body = HEADER + "".join(
        f'"T{i}","2024-10-01 09:00:00.{i:03d}","A{i}","B{i}","{i}",""\n' for i in range(30, 90)
    )
    day = folder / f"date={DAY}"
    (day / "b.csv.gz").write_bytes(gzip.compress(body.encode()))
    pq.write_table(
        pa.table(
            {
                "transaction_id": [f"T{i}" for i in range(80, 100)],
                "timestamp": pa.array([pd.Timestamp("2024-10-01T05:00:00Z")] * 20),
                "sender": ["S"] * 20,
                "receiver": ["R"] * 19 + ["S"],
                "amount": [float(i) - 85 for i in range(80, 100)],
            }
        ),
        day / "c.parquet",
    )


def assert_same(a: IngestResult, b: IngestResult) -> None:
    pd.testing.assert_frame_equal(a.valid, b.valid, check_exact=True)
    pd.testing.assert_frame_equal(a.rejected, b.rejected, check_exact=True)
    assert [vars(f) for f in a.files] == [vars(f) for f in b.files]


def test_batch_size_and_streamed_gzip_do_not_change_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day_of_every_kind(tmp_path)
    whole = ingest_day(str(tmp_path), DAY)
    assert whole.rows_read == 43 + 60 + 20 and len(whole.rejected) > 20
    monkeypatch.setattr(stream, "BATCH_ROWS", 3)
    monkeypatch.setattr(gzip_reader, "STREAM_MIN_BYTES", 0)  # inflated while pyarrow reads it
    streamed = []
    read_gzip_csv = reader.read_gzip_csv
    monkeypatch.setattr(
        reader, "read_gzip_csv", lambda data: streamed.append(read_gzip_csv(data)) or streamed[-1]
    )
    assert_same(whole, ingest_day(str(tmp_path), DAY))
    assert len(streamed) == 1 and streamed[0] is not None


@pytest.mark.parametrize(
    "blob",
    [
        lambda body: gzip.compress(body[:100]) + gzip.compress(body[100:]),  # two members
        lambda body: gzip.compress(body) + b"\x00" * 5,  # zero padding: fine
        lambda body: gzip.compress(body) + b"junk",  # not a gzip member
        lambda body: gzip.compress(body)[:-30],  # truncated
        lambda body: gzip.compress(body)[:-8] + b"\x00" * 8,  # wrong CRC and length
    ],
    ids=["two-members", "zero-padding", "trailing-junk", "truncated", "bad-crc"],
)
def test_gzip_inflated_while_read_matches_gzip_decompress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blob
) -> None:
    body = HEADER + "".join(f"T{i},2024-10-01T10:00:00Z,A,B,{i + 1},USD\n" for i in range(50))
    (tmp_path / f"date={DAY}").mkdir()
    (tmp_path / f"date={DAY}" / "a.csv.gz").write_bytes(blob(body.encode()))
    try:
        expected = gzip.decompress(blob(body.encode())).count(b"\n") - 1
    except (OSError, EOFError):
        expected = None
    whole = ingest_day(str(tmp_path), DAY)
    monkeypatch.setattr(gzip_reader, "STREAM_MIN_BYTES", 0)
    streamed = ingest_day(str(tmp_path), DAY)
    assert_same(whole, streamed)
    if expected is None:
        assert streamed.rejected["reason"].str.startswith("unreadable gzip file").all()
    else:
        assert len(streamed.valid) == expected == 50


@pytest.mark.parametrize("step", [1, 5, 64, 1 << 16])
@pytest.mark.parametrize(
    "text",
    [b"a,b\n1,2\n", b'a,b\n1,"2"\n3,4', b'a,b\r\n"x",y\r\n', b"a\n" + b"b" * 100, b""],
)
def test_the_gzip_watcher_sees_quotes_and_the_last_line_whatever_the_reads(
    step: int, text: bytes
) -> None:
    """What pyarrow's reader pulls through `_Watched` is the text past the byte-order mark, and
    the last line is either the text's or unknown (then the file is read whole)."""
    compressed = gzip.compress(csv_reader.BOM + text)
    source = pa.CompressedInputStream(pa.BufferReader(compressed), "gzip")
    watched = gzip_reader._Watched(source, len(csv_reader.BOM))
    assert b"".join(iter(lambda: watched.read(step), b"")) == text
    assert watched.quoted == (b'"' in text)
    last = watched.last_line()
    assert last in (None, csv_reader.last_line_of(text))
    if step >= len(text):
        assert last == csv_reader.last_line_of(text)


@pytest.mark.parametrize(
    "ending",
    ['T9,2024-10-01T10:00:00Z,A,B,1,"USD', 'T9,2024-10-01T10:00:00Z,A,B,1,"USD\n', "\n\n"],
    ids=["open-quote-at-the-end", "open-quote-last-line", "blank-lines"],
)
def test_a_streamed_gzip_file_reads_as_the_same_text_uncompressed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    body = HEADER + "".join(f"T{i},2024-10-01T10:00:00Z,A,B,{i + 1},USD\n" for i in range(50))
    write(tmp_path / "plain", "a.csv", body + ending)
    write(tmp_path / "gz", "a.csv.gz", body + ending)
    monkeypatch.setattr(gzip_reader, "STREAM_MIN_BYTES", 0)
    plain = ingest_day(str(tmp_path / "plain"), DAY)
    streamed = ingest_day(str(tmp_path / "gz"), DAY)
    pd.testing.assert_frame_equal(
        plain.valid.drop(columns="source_file"), streamed.valid.drop(columns="source_file")
    )
    columns = ["line", "field", "reason", "raw"]
    pd.testing.assert_frame_equal(plain.rejected[columns], streamed.rejected[columns])


def test_duplicates_are_exact_when_every_hash_collides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids_a = [f"T{i % 30}" for i in range(50)] + ["Tx", "T", "T1 "]
    ids_b = [f"T{i}" for i in range(25, 45)] + ["Tx"]
    for name, ids in (("a.csv", ids_a), ("b.csv", ids_b)):
        write(
            tmp_path,
            name,
            HEADER + "".join(f"{t},2024-10-01T10:00:00Z,A,B,1,USD\n" for t in ids),
        )
    normal = ingest_day(str(tmp_path), DAY)
    monkeypatch.setattr(duplicates, "_row_hashes", lambda m: np.zeros(len(m), dtype=np.uint32))
    colliding = ingest_day(str(tmp_path), DAY)
    assert_same(normal, colliding)
    # "T1 " is trimmed to "T1", a repeat; the first of every id is kept, files in name order.
    first: dict[str, tuple[str, int]] = {}
    for name, ids in (("a.csv", ids_a), ("b.csv", ids_b)):
        for line, t in enumerate(ids, start=2):
            first.setdefault(t.strip(), (f"date={DAY}/{name}", line))
    assert sorted(zip(normal.valid["source_file"], normal.valid["line"], strict=True)) == sorted(
        first.values()
    )
    for row in normal.rejected.itertuples():
        assert row.field == "transaction_id"
        assert row.reason.startswith("duplicate transaction_id (first seen in date=")


def test_quotes_in_a_fully_quoted_file_are_checked_to_the_last_line(tmp_path: Path) -> None:
    """pyarrow reads a quote left open at the very end of a file as a clean value: the last
    line is checked, so such a file still goes to the reader that rejects that line."""

    def rows(prefix: str) -> str:
        return "".join(
            f'"{prefix}{i}","2024-10-01T10:00:00Z","A","B","{i + 1}.50","USD"\n' for i in range(20)
        )

    write(tmp_path, "a.csv", HEADER + rows("T") + '"T99","2024-10-01T10:00:00Z","A","B","1","USD')
    write(tmp_path, "b.csv", HEADER + rows("U") + 'U98,2024-10-01T10:00:00Z,A"x,B,1,USD\n')
    result = ingest_day(str(tmp_path), DAY)
    assert rejected_by_line(result) == {
        22: ("row", "unbalanced quote: a quoted value runs to the end of the file")
    }
    assert result.valid["sender"].tolist()[-1] == 'A"x'
    assert len(result.valid) == 41


def test_validate_batch_takes_record_batches(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER + "T1,2024-10-01T10:00:00Z,A,B,1,USD\nT2,2024-10-01T10:00:00Z,A,A,1,USD\n",
    )
    landing = read_landing_file(UPath(tmp_path / f"date={DAY}" / "a.csv"), DAY)
    for batch in landing.rows.to_batches(max_chunksize=1):
        valid, rejected = validate_batch(batch, landing.source_file, DAY)
        assert valid.num_rows + len(rejected) == 1
        assert valid.schema == logic.VALID_BATCH_SCHEMA
    valid, rejected = validate_transactions(landing.rows, landing.source_file, DAY)
    assert valid["transaction_id"].tolist() == ["T1"]
    assert rejected["reason"].tolist() == ["self-transfer (sender equals receiver)"]


# -- streaming a day ------------------------------------------------------------------------------


def generated_day(root: Path, files: int) -> Path:
    """A generated day (bad rows included) in ``files`` parts, then three hand-written files
    repeating ids of earlier files and of themselves; the landing zone."""
    config = SampleConfig(transactions_per_day=3_000, malformed_rate=0.01, seed=5)
    sample = generate_day(dt.date.fromisoformat(DAY), config)
    base, extra = divmod(len(sample.transactions), files)
    sample.file_rows = tuple(base + (i < extra) for i in range(files))
    write_day(str(root), sample, config)
    landing = root / "landing" / "transactions"
    rows = sample.transactions.astype(object).where(sample.transactions.notna(), "")
    broken = sample.malformed["transaction_id"].tolist()
    repeated = [*rows.index[:40], *rows.index[-40:], *rows.index[1_000:1_010]]
    again = rows.loc[repeated].values.tolist()
    # A malformed row's id written properly later: kept, its first occurrence was rejected.
    fixed = [broken[0], "2024-10-01T12:00:00Z", "FIX-A", "FIX-B", "1.00", "EUR"]
    write(landing, "part-100.csv", csv_rows([*again, *again[:5], fixed, ["X", "", "A", "B"]]))
    write(landing, "part-101.csv.gz", csv_rows([*again[-8:], ["NEW", TS, "A", "B", "2", ""]]))
    write(landing, "part-102.csv", csv_rows([["NEW", TS, "C", "D", "3", ""], fixed]))
    return landing


TS = "2024-10-01T10:00:00Z"


def csv_rows(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["transaction_id", "timestamp", "sender", "receiver", "amount", "currency"])
    writer.writerows(rows)
    return out.getvalue()


def file_by_file(landing: Path) -> tuple[pd.DataFrame, dict[tuple[str, int], str]]:
    """What a day must come to, computed another way: every file validated on its own
    (`validate_transactions`), all of them in one frame, the first of each id kept."""
    frames = []
    for path in sorted((landing / f"date={DAY}").iterdir()):
        read = read_landing_file(UPath(path), DAY)
        frames.append(validate_transactions(read.rows, read.source_file, DAY)[0])
    every = pd.concat(frames, ignore_index=True)
    repeated = every["transaction_id"].duplicated(keep="first")
    first = every.groupby("transaction_id")[["source_file", "line"]].transform("first")
    reasons = {
        (source, line): f"duplicate transaction_id (first seen in {first_source} line {first_line})"
        for source, line, first_source, first_line in zip(
            every["source_file"][repeated],
            every["line"][repeated],
            first["source_file"][repeated],
            first["line"][repeated],
            strict=True,
        )
    }
    return every[~repeated].reset_index(drop=True), reasons


@pytest.mark.parametrize("files", [1, 3, 7])
def test_stream_day_writes_exactly_the_rows_ingest_day_keeps(tmp_path: Path, files: int) -> None:
    landing = generated_day(tmp_path, files)
    tables: list[pa.Table] = []
    summary = stream_day(str(landing), DAY, tables.append)
    result = ingest_day(str(landing), DAY)

    # One table a file with valid rows, in the day's order, all of one schema.
    sources = [table.column("source_file")[0].as_py() for table in tables]
    assert sources == sorted(set(sources)) == sorted(set(result.valid["source_file"]))
    for table in tables:
        assert table.schema.equals(raw_transaction_schema(), check_metadata=True)
    assert_same(
        result, IngestResult(logic.transactions_frame(tables), summary.rejected, summary.files)
    )
    assert summary.rows_valid == len(result.valid)
    assert summary.rows_read == result.rows_read == len(result.valid) + len(result.rejected)
    sizes = [p.stat().st_size for p in (landing / f"date={DAY}").iterdir()]
    assert summary.bytes_read == sum(sizes)

    # The same rows as every file validated on its own and the first of each id kept.
    expected, reasons = file_by_file(landing)
    pd.testing.assert_frame_equal(result.valid, expected, check_exact=True)
    duplicates = result.rejected[result.rejected["reason"].str.startswith("duplicate")]
    where = zip(duplicates["source_file"], duplicates["line"], strict=True)
    assert dict(zip(where, duplicates["reason"], strict=True)) == reasons
    assert len(reasons) > 100
    kept = set(result.valid["transaction_id"])
    assert "NEW" in kept and len(kept) == len(result.valid)


def test_a_repeat_of_a_row_already_written_is_rejected_naming_the_first(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        HEADER + "T1,2024-10-01T10:00:00Z,A,B,1,USD\nT2,2024-10-01T10:00:00Z,A,B,2,\n",
    )
    write(
        tmp_path,
        "b.csv.gz",
        HEADER
        + "T3,2024-10-01T11:00:00Z,C,D,3,EUR\n"
        + " T2 ,2024-10-01T11:00:00Z,C,D,4,EUR\n"  # trimmed: T2 again
        + "T3,2024-10-01T11:00:00Z,C,D,5,EUR\n",
    )
    write(tmp_path, "c.parquet", b"")  # unreadable: one record, nothing written
    write(
        tmp_path,
        "d.csv",
        HEADER + "T1,2024-10-01T12:00:00Z,E,F,6,\nT4,2024-10-01T12:00:00Z,E,F,7,\n",
    )
    written: list[list[str]] = []
    summary = stream_day(
        str(tmp_path), DAY, lambda table: written.append(table.column("transaction_id").to_pylist())
    )
    assert written == [["T1", "T2"], ["T3"], ["T4"]]
    rejected = summary.rejected.set_index(["source_file", "line"])
    assert rejected.loc[(f"date={DAY}/b.csv.gz", 3), ["reason", "raw"]].tolist() == [
        f"duplicate transaction_id (first seen in date={DAY}/a.csv line 3)",
        " T2 ,2024-10-01T11:00:00Z,C,D,4,EUR",
    ]
    assert rejected.loc[(f"date={DAY}/b.csv.gz", 4), "reason"] == (
        f"duplicate transaction_id (first seen in date={DAY}/b.csv.gz line 2)"
    )
    assert rejected.loc[(f"date={DAY}/d.csv", 2), "reason"] == (
        f"duplicate transaction_id (first seen in date={DAY}/a.csv line 2)"
    )
    counts = [(f.rows_read, f.rows_valid, f.rows_rejected) for f in summary.files]
    assert counts == [(2, 2, 0), (3, 1, 2), (1, 0, 1), (2, 1, 1)]


def test_the_file_budget_fails_the_day_before_anything_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "a.csv", HEADER + "T1,2024-10-01T10:00:00Z,A,B,1,USD\n")
    big = write(tmp_path, "b.csv", HEADER + "T2,2024-10-01T10:00:00Z,A,B,1,USD\n" * 50)
    write(tmp_path, "c.csv.gz", HEADER + "T3,2024-10-01T10:00:00Z,A,B,1,USD\n" * 50)
    size = big.stat().st_size
    reads: list[str] = []
    read = reader.read_landing_file
    monkeypatch.setattr(
        reader, "read_landing_file", lambda p, d: reads.append(p.name) or read(p, d)
    )
    tables: list[pa.Table] = []

    with pytest.raises(FileTooLargeError) as refused:
        stream_day(str(tmp_path), DAY, tables.append, max_file_bytes=size - 1)
    assert reads == [] and tables == []
    assert not refused.value.allow_retries
    message = str(refused.value.description)
    assert message.startswith(f"day {DAY} not read: 1 of its 3 landing file(s) exceed ")
    assert f"input budget of {(size - 1) / 1024:.1f} KiB ({size - 1:,} bytes) per file" in message
    assert f"b.csv {size / 1024:.1f} KiB ({size:,} bytes)" in message
    assert "c.csv.gz" not in message
    assert "(LandingZone.max_file_bytes, set by FRAUD_MAX_FILE_BYTES)" in message
    assert "split the file" in message
    with pytest.raises(FileTooLargeError):
        LandingZone(url=str(tmp_path), max_file_bytes=size - 1).stream(DAY, tables.append)
    assert reads == []

    summary = LandingZone(url=str(tmp_path), max_file_bytes=size).stream(DAY, tables.append)
    assert reads == ["a.csv", "b.csv", "c.csv.gz"] and summary.rows_valid == len(tables) == 3


def test_a_file_is_read_only_once_the_one_before_the_last_is_written_and_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory holds two files at most: the one validated and the next, read meanwhile."""
    for index in range(6):
        rows = "".join(f"T{index}-{i},2024-10-01T10:00:00Z,A,B,1,USD\n" for i in range(200))
        write(tmp_path, f"part-{index}.csv", HEADER + rows)
    alive: set[str] = set()
    at_read: list[tuple[str, int, int]] = []  # file, files alive, tables written
    read = reader.read_landing_file

    def counted(path: UPath, day: str) -> LandingFile:
        at_read.append((path.name, len(alive), len(written)))
        landing = read(path, day)
        alive.add(path.name)
        weakref.finalize(landing, alive.discard, path.name)
        return landing

    monkeypatch.setattr(reader, "read_landing_file", counted)
    written: list[str] = []
    stream_day(str(tmp_path), DAY, lambda table: written.append(table["source_file"][0].as_py()))
    assert [name for name, _, _ in at_read] == [f"part-{i}.csv" for i in range(6)]
    assert max(held for _, held, _ in at_read) <= 1
    # File k + 2 is read only once file k is written.
    assert all(done >= index - 1 for index, (_, _, done) in enumerate(at_read))
    assert written == [f"date={DAY}/part-{i}.csv" for i in range(6)] and not alive


def test_raw_transaction_schema_follows_the_table_contract() -> None:
    schema = raw_transaction_schema()
    assert schema.names == list(RAW_TRANSACTION_COLUMNS)
    assert [f.name for f in schema if f.nullable] == ["currency"]
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert logic.empty_transactions().dtypes.equals(
        logic.transactions_frame([schema.empty_table()]).dtypes
    )


def parquet_in_row_groups(landing: Path, rows: int = 100) -> Path:
    """The generated day's Parquet file rewritten in row groups of ``rows``, with an id of its
    first row group repeated in its last and a bad amount late in the file."""
    path = next((landing / f"date={DAY}").glob("*.parquet"))
    table = pq.read_table(path)
    ids = table.column("transaction_id").to_pylist()
    ids[-3] = ids[5]  # a duplicate across pieces: rejected, naming row 6's line (7)
    amounts = table.column("amount").to_pylist()
    amounts[-10] = -1.0  # a bad row in the last piece
    table = table.set_column(0, "transaction_id", pa.array(ids, table.schema.field(0).type))
    index = table.schema.get_field_index("amount")
    table = table.set_column(index, "amount", pa.array(amounts, pa.float64()))
    pq.write_table(table, path, row_group_size=rows)
    return path


def test_a_parquet_file_streamed_in_row_groups_gives_the_rows_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = generated_day(tmp_path, 3)
    path = parquet_in_row_groups(landing)
    assert pq.ParquetFile(path).num_row_groups >= 10
    whole: list[pa.Table] = []
    expected = stream_day(str(landing), DAY, whole.append)

    monkeypatch.setattr(parquet_reader, "PARQUET_PIECE_ROWS", 250)  # three row groups a piece
    pieces: list[pa.Table] = []
    summary = stream_day(str(landing), DAY, pieces.append)

    assert len(pieces) > len(whole)  # the Parquet file came in several pieces
    assert pa.concat_tables(pieces).equals(pa.concat_tables(whole))
    pd.testing.assert_frame_equal(summary.rejected, expected.rejected)
    assert summary.files == expected.files  # one report per file, pieces added up
    source = f"date={DAY}/{path.name}"
    reasons = summary.rejected[summary.rejected["source_file"] == source]
    rows = pq.ParquetFile(path).metadata.num_rows
    assert f"first seen in {source} line 7)" in " ".join(reasons["reason"])
    assert {rows - 1, rows - 8} <= set(reasons["line"])  # the duplicate, the bad amount


def test_a_corrupt_row_group_keeps_the_rows_before_it_and_names_the_first_row_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = generated_day(tmp_path, 3)
    path = parquet_in_row_groups(landing)
    metadata = pq.ParquetFile(path).metadata
    group = metadata.row_group(4)  # rows 401-500: its pages overwritten with garbage
    start = min(
        group.column(c).dictionary_page_offset or group.column(c).data_page_offset
        for c in range(group.num_columns)
    )
    data = bytearray(path.read_bytes())
    data[start : start + group.total_byte_size] = b"\xff" * group.total_byte_size
    path.write_bytes(bytes(data))
    monkeypatch.setattr(parquet_reader, "PARQUET_PIECE_ROWS", 100)
    tables: list[pa.Table] = []

    summary = stream_day(str(landing), DAY, tables.append)

    source = f"date={DAY}/{path.name}"
    (report,) = [f for f in summary.files if f.source_file == source]
    assert report.error is not None
    assert report.error.startswith("unreadable Parquet file from row 401 on: ")
    kept = pa.concat_tables(tables).to_pandas()
    lines = kept.loc[kept["source_file"] == source, "line"]
    assert lines.max() <= 401 and lines.min() == 2 and len(lines) > 350  # rows 1-400, less bad
    (record,) = summary.rejected[
        (summary.rejected["source_file"] == source) & (summary.rejected["field"] == "file")
    ].itertuples()
    assert record.line == 0 and record.reason == report.error
    assert report.rows_read == 400 + 1  # the rows read, and the file's record


def test_the_budget_applies_to_csv_files_only(tmp_path: Path) -> None:
    """A Parquet file is streamed by row groups: however large, it is read."""
    small = write(tmp_path, "a.csv", HEADER + "T1,2024-10-01T10:00:00Z,A,B,1,USD\n")
    rows = 2_000
    table = pa.table(
        {
            "transaction_id": [f"P{i}" for i in range(rows)],
            "timestamp": pa.array([dt.datetime(2024, 10, 1, 12, tzinfo=dt.UTC)] * rows),
            "sender": [f"S{i}" for i in range(rows)],
            "receiver": [f"R{i}" for i in range(rows)],
            "amount": [1.0 + i for i in range(rows)],
        }
    )
    big = tmp_path / f"date={DAY}" / "b.parquet"
    pq.write_table(table, big, row_group_size=500)
    budget = small.stat().st_size
    assert big.stat().st_size > 10 * budget

    summary = stream_day(str(tmp_path), DAY, lambda table: None, max_file_bytes=budget)

    assert [(f.source_file, f.rows_valid) for f in summary.files] == [
        (f"date={DAY}/a.csv", 1),
        (f"date={DAY}/b.parquet", rows),
    ]
    write(tmp_path, "c.csv", HEADER + "T2,2024-10-01T10:00:00Z,A,B,1,USD\n" * 2)
    with pytest.raises(FileTooLargeError) as refused:
        stream_day(str(tmp_path), DAY, lambda table: None, max_file_bytes=budget)
    assert "1 of its 3 landing file(s) exceed" in str(refused.value.description)
    assert "c.csv" in str(refused.value.description)
    assert "b.parquet" not in str(refused.value.description)
