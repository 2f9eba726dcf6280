"""Parquet files in the object store (a local folder or ``s3://bucket/prefix``), one per day.

Layout: a DataFrame asset is ``{base}/{asset_key}/{YYYY-MM-DD}.parquet``; a `TableBundle` is the
folder ``{base}/{asset_key}/{YYYY-MM-DD}/`` holding ``{member}.parquet`` per member. Unpartitioned
assets drop the day part (``{base}/{asset_key}.parquet`` or ``{base}/{asset_key}/``).

Built on Dagster's `UPathIOManager` (universal_pathlib + fsspec, so S3 works by URL and takes its
endpoint and credentials from the standard AWS environment variables), with two changes that make a
range of days behave like one day in asset code:

- an output covering several partitions (a single-run backfill; the stock class refuses it, dagster
  issue 14332) is split on its ``partition_date`` column into one file per day, and a day without
  rows still gets an empty file carrying the schema;
- an input covering several partitions is ONE concatenated DataFrame (or bundle of concatenated
  members) instead of the stock dict of partition key to value.

Writes never leave a partial file at a final name: locally each file is written under a temporary
name in the same folder and renamed (atomic on POSIX); an S3 object becomes visible only when its
upload completes.

S3 failures that are deployment faults (refused credentials, no credentials, an unreachable
endpoint) become one `ObjectStoreAccessError` naming the URL and the variables to check, never a
secret; `object_store_errors` does this for the IO manager and the landing zone alike.

Where the rest lives: reaching the store and its error mapping in `fraud_platform.storage.access`,
local-or-remote and the atomic rename in `fraud_platform.storage.paths`, Parquet encoding and
`TransactionBatches` in `fraud_platform.storage.parquet_files`. Their names are re-exported here,
so ``from fraud_platform.storage.object_store import X`` keeps working.
"""

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    ConfigurableIOManagerFactory,
    InitResourceContext,
    InputContext,
    MetadataValue,
    OutputContext,
    UPathIOManager,
)
from pydantic import Field
from upath import UPath

from fraud_platform.settings import normalize_storage_url
from fraud_platform.storage.access import (
    ObjectStoreAccessError,
    object_store_errors,
    read_bytes,
    storage_options,
    store_path,
    write_atomically,
    write_bytes,
)
from fraud_platform.storage.parquet_files import (
    CARDINALITY_SAMPLE_ROWS,
    DICTIONARY_MAX_DISTINCT_SHARE,
    PARQUET_COMPRESSION,
    PARQUET_SUFFIX,
    STREAM_ROW_GROUP_ROWS,
    TransactionBatches,
    bundle_type,
    each,
    frame_to_table,
    member_names,
    parquet_write_options,
    split_by_partition,
    stream_writer,
    tables_to_frame,
)
from fraud_platform.storage.paths import (
    REMOTE_RUN_LAUNCHERS,
    is_local,
    remote_run_launcher,
    replace_atomically,
    temporary_beside,
)
from fraud_platform.tables import TableBundle

__all__ = [
    "CARDINALITY_SAMPLE_ROWS",
    "DICTIONARY_MAX_DISTINCT_SHARE",
    "PARQUET_COMPRESSION",
    "PARQUET_SUFFIX",
    "REMOTE_RUN_LAUNCHERS",
    "STREAM_ROW_GROUP_ROWS",
    "ObjectStoreAccessError",
    "ParquetFilesIOManager",
    "ParquetIOManager",
    "TransactionBatches",
    "bundle_type",
    "frame_to_table",
    "is_local",
    "member_names",
    "object_store_errors",
    "parquet_write_options",
    "read_bytes",
    "remote_run_launcher",
    "split_by_partition",
    "storage_options",
    "store_path",
    "stream_writer",
    "tables_to_frame",
    "temporary_beside",
    "write_atomically",
    "write_bytes",
]


@dataclass
class _Handover:
    """A value written in this run, and whether a later step has loaded it."""

    value: Any
    loaded: bool = False


def _stem_key(stems: Mapping[str | None, UPath]) -> tuple[str, ...]:
    return tuple(str(stem) for stem in stems.values())


class ParquetFilesIOManager(UPathIOManager):
    """The IO manager `ParquetIOManager` builds; see the module docstring for the layout."""

    extension = None  # file or folder depends on the value: decided per value below

    def __init__(self, base_path: UPath, compression: str = PARQUET_COMPRESSION) -> None:
        super().__init__(base_path=base_path)
        #: Kept here too: the parent's copy is private (``_base_path``).
        self.base_path = base_path
        self.compression = compression
        #: The value last written per single-partition output, until a later step has loaded it
        #: (see `_hand_over`).
        self._written: dict[tuple[str, ...], _Handover] = {}

    # -- paths ---------------------------------------------------------------------------------

    def make_safe_partition_path(self, base_path: UPath, partition: str) -> UPath:
        """A partition key never climbs out of the asset folder (local folders resolve ``..``).

        A ``..`` segment becomes ``%2E%2E``, as the parent's docstring asks of hierarchical
        stores (Dagster's helper for it is not public); the parent escapes a leading ``/``.
        """
        segments = ["%2E%2E" if segment == ".." else segment for segment in partition.split("/")]
        return super().make_safe_partition_path(base_path, "/".join(segments))

    @staticmethod
    def frame_path(stem: UPath) -> UPath:
        """``stem.parquet``; ``with_suffix`` would eat a dot that belongs to a partition key."""
        return stem.with_name(stem.name + PARQUET_SUFFIX)

    def _stems(self, context: InputContext | OutputContext) -> dict[str | None, UPath]:
        """Partition key (None when unpartitioned) to path without extension, in key order.

        The parent's layout, from its public hooks (`get_asset_relative_path`,
        `get_op_output_relative_path`, `get_path_for_partition`); ``extension`` is None, so a stem
        is also the parent's path. The partitions here are days and weeks, never multi-partitions.
        """
        if context.has_asset_key:
            relative = self.get_asset_relative_path(context)
        else:
            relative = self.get_op_output_relative_path(context)
        if relative.is_absolute():  # joining it would drop the base path
            raise ValueError(f"{relative} is not a path inside the object store")
        stem = self.base_path.joinpath(*relative.parts)
        if context.has_asset_key and context.has_asset_partitions:
            return {
                key: self.get_path_for_partition(context, stem, key)
                for key in context.asset_partition_keys
            }
        return {None: stem}

    def path_exists(self, path: UPath) -> bool:
        with object_store_errors(path, "look up"):
            return path.exists()

    def has_output(self, context: OutputContext) -> bool:
        """Whether the value was stored: as ``stem.parquet`` (a frame) or ``stem/`` (a bundle)."""
        return all(
            self.path_exists(self.frame_path(stem)) or self.path_exists(stem)
            for stem in self._stems(context).values()
        )

    # -- writing -------------------------------------------------------------------------------

    def dump_to_path(self, context: OutputContext, obj: Any, path: UPath) -> None:
        """Write one day's (or an unpartitioned) value under ``path`` (no extension)."""
        self._write_files(self._files_for(obj, path))

    def load_from_path(self, context: InputContext, path: UPath) -> Any:
        """Read one day's value; `load_input` uses `_read_tables` to concatenate several."""
        return self._to_value(context.dagster_type.typing_type, [self._read_tables(context, path)])

    def _files_for(self, obj: Any, stem: UPath) -> dict[UPath, pd.DataFrame]:
        if isinstance(obj, pd.DataFrame):
            return {self.frame_path(stem): obj}
        if isinstance(obj, TableBundle):
            return {
                stem / f"{name}{PARQUET_SUFFIX}": frame for name, frame in obj.members().items()
            }
        raise TypeError(
            f"{type(self).__name__} stores pandas DataFrames and TableBundles, not {type(obj)}"
        )

    def _write_files(self, files: Mapping[UPath, pd.DataFrame]) -> int:
        """Write every file, all-or-nothing per file; returns the bytes written.

        Every file is encoded before any final name changes (locally: all temporary files are
        written before the renames), so a failure while encoding leaves every final name as it was.
        A bundle's members are encoded at once on worker threads (Arrow's Parquet writer releases
        the GIL): the 10M day's graph is one 9M-row and one 2.4M-row file.
        """
        tables = {path: frame_to_table(frame) for path, frame in files.items()}
        if not tables:
            return 0
        if not all(is_local(path) for path in tables):
            encoded = dict(zip(tables, each(self._encode, tables.values()), strict=True))
            for path, data in encoded.items():
                # An S3 object becomes visible only once its upload completes: whole or not at all.
                with object_store_errors(path, "write"):
                    path.fs.pipe_file(path.path, data)
            return sum(len(data) for data in encoded.values())
        temporaries: dict[Path, Path] = {}
        for path in tables:
            final = Path(path.path)
            final.parent.mkdir(parents=True, exist_ok=True)
            temporaries[temporary_beside(final)] = final
        try:
            each(self._write_local, tables.values(), temporaries)
            written = sum(temporary.stat().st_size for temporary in temporaries)
            for temporary, final in temporaries.items():
                os.replace(temporary, final)
            return written
        finally:
            for temporary in temporaries:
                temporary.unlink(missing_ok=True)

    def _write_local(self, table: pa.Table, path: Path) -> None:
        pq.write_table(table, path, compression=self.compression, **parquet_write_options(table))

    def _encode(self, table: pa.Table) -> bytes:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression=self.compression, **parquet_write_options(table))
        return sink.getvalue().to_pybytes()

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        """Write a day, a range of days (split per day) or an unpartitioned value."""
        if obj is None:  # an asset run for its side effects; nothing to store
            return
        stems = self._stems(context)
        if isinstance(obj, TransactionBatches):
            self._store_streamed(context, stems, obj)
            return
        keys = list(stems)
        pieces = {keys[0]: obj} if len(keys) == 1 else self._split(obj, [str(k) for k in keys])
        files: dict[UPath, pd.DataFrame] = {}
        for key, piece in pieces.items():
            files.update(self._files_for(piece, stems[key]))
        for path in files:
            context.log.debug(self.get_writing_output_log_message(path))
        written = self._write_files(files)
        context.add_output_metadata(self._output_metadata(obj, stems, written, len(files)))
        self._keep_written(stems, obj)

    def _store_streamed(
        self, context: OutputContext, stems: Mapping[str | None, UPath], obj: TransactionBatches
    ) -> None:
        """Move a streamed value's local files (one per day of ``stems``) into the store.

        Locally the file is moved next to its final name and renamed over it (atomic); on S3
        the object becomes visible once its upload completes. The local files are removed.
        """
        if len(obj.paths) != len(stems):
            raise ValueError(
                f"a streamed value has {len(obj.paths)} file(s) for {len(stems)} partition(s)"
            )
        finals = [self.frame_path(stem) for stem in stems.values()]
        written, rows = 0, obj.num_rows
        for source, final in zip(obj.paths, finals, strict=True):
            context.log.debug(self.get_writing_output_log_message(final))
            written += Path(source).stat().st_size
            if is_local(final):
                replace_atomically(Path(final.path), partial(shutil.move, source))
            else:
                with object_store_errors(final, "write"):
                    final.fs.put_file(source, final.path)
                Path(source).unlink(missing_ok=True)
        metadata: dict[str, Any] = {
            "path": MetadataValue.path(str(finals[0] if len(finals) == 1 else finals[0].parent)),
            "bytes": written,
            "files": len(finals),
            "rows": rows,
        }
        if len(finals) == 1:
            metadata["dagster/row_count"] = rows
        context.add_output_metadata(metadata)
        self._keep_written(stems, None)  # nothing to hand over: readers read the files

    # -- hand-over within a run ----------------------------------------------------------------

    def _keep_written(self, stems: Mapping[str | None, UPath], obj: object) -> None:
        """Keep a single day's value just written for the steps of this run that load it.

        With the in-process executor every step of a run shares this IO manager, and the next
        step would read back the file just written (6 s of the 10M-transfer day's run). The file
        is written first all the same: it is the asset. Values already loaded by a later step
        are dropped when another output is written, so no more than the current step's inputs
        and output are held, as without the hand-over. Other executors, ranges of days and any
        value not kept read the files.
        """
        self._written = {key: kept for key, kept in self._written.items() if not kept.loaded}
        if len(stems) == 1 and isinstance(obj, pd.DataFrame | TableBundle):
            self._written[_stem_key(stems)] = _Handover(obj)

    def _hand_over(self, context: InputContext, stems: Mapping[str | None, UPath]) -> Any:
        """The value this run wrote at ``stems``, shallow-copied, or None to read the files."""
        kept = self._written.get(_stem_key(stems))
        if kept is None:
            return None
        wanted = context.dagster_type.typing_type
        bundle_cls = bundle_type(wanted)
        value = kept.value
        if bundle_cls is not None and isinstance(value, bundle_cls):
            copy = bundle_cls.from_members(
                {name: frame.copy(deep=False) for name, frame in value.members().items()}
            )
        elif bundle_cls is None and isinstance(value, pd.DataFrame):
            copy = value.copy(deep=False)
        else:
            return None
        kept.loaded = True
        context.log.debug(f"Handing over {context.asset_key.to_user_string()} written in this run")
        return copy

    @staticmethod
    def _split(obj: Any, keys: list[str]) -> dict[str, Any]:
        if isinstance(obj, pd.DataFrame):
            return split_by_partition(obj, keys)
        if isinstance(obj, TableBundle):
            split = {name: split_by_partition(frame, keys) for name, frame in obj.members().items()}
            return {
                key: obj.from_members({name: days[key] for name, days in split.items()})
                for key in keys
            }
        raise TypeError(f"cannot split {type(obj)} over partitions")

    @staticmethod
    def _output_metadata(
        obj: Any, stems: Mapping[str | None, UPath], written: int, file_count: int
    ) -> dict[str, Any]:
        """Path, bytes, files and row counts.

        Dagster copies an output's metadata to every partition it covers, so for a range the
        counts are named as totals (``rows``) and ``dagster/row_count`` is kept for single days.
        """
        first = next(iter(stems.values()))
        frames = {"": obj} if isinstance(obj, pd.DataFrame) else obj.members()
        if len(stems) > 1:
            shown = first.parent
        elif isinstance(obj, pd.DataFrame):
            shown = ParquetFilesIOManager.frame_path(first)
        else:
            shown = first
        metadata: dict[str, Any] = {
            "path": MetadataValue.path(str(shown)),
            "bytes": written,
            "files": file_count,
        }
        for name, frame in frames.items():
            metadata[f"{name}_rows" if name else "rows"] = len(frame)
        if len(stems) > 1:
            metadata["partitions"] = len(stems)
        elif isinstance(obj, pd.DataFrame):
            metadata["dagster/row_count"] = len(obj)
        return metadata

    # -- reading -------------------------------------------------------------------------------

    def _read_table(self, path: UPath) -> pa.Table:
        if is_local(path):
            return pq.read_table(path.path)
        with object_store_errors(path, "read"):
            data = path.fs.cat_file(path.path)  # one GET per file
        return pq.read_table(pa.BufferReader(data))

    def _read_tables(self, context: InputContext, stem: UPath) -> pa.Table | dict[str, pa.Table]:
        """One day's Arrow table, or member name to table for a bundle annotation."""
        bundle_cls = bundle_type(context.dagster_type.typing_type)
        if bundle_cls is None:
            path = self.frame_path(stem)
            context.log.debug(self.get_loading_input_log_message(path))
            return self._read_table(path)
        tables = {}
        for name in member_names(bundle_cls):
            path = stem / f"{name}{PARQUET_SUFFIX}"
            context.log.debug(self.get_loading_input_log_message(path))
            tables[name] = self._read_table(path)
        return tables

    @staticmethod
    def _to_value(typing_type: Any, days: list[Any]) -> Any:
        """Days' Arrow tables (or member -> table dicts) as one DataFrame or bundle."""
        bundle_cls = bundle_type(typing_type)
        if bundle_cls is None:
            return tables_to_frame(days)
        return bundle_cls.from_members(
            {
                name: tables_to_frame([day[name] for day in days])
                for name in member_names(bundle_cls)
            }
        )

    def load_input(self, context: InputContext) -> Any:
        """One value for one day or many: several days come back concatenated, in key order."""
        allow_missing = bool(
            (context.definition_metadata or {}).get("allow_missing_partitions", False)
        )
        stems = self._stems(context)
        if context.dagster_type.typing_type is TransactionBatches:
            # Read later, a row group at a time, by the step that asked for it.
            return TransactionBatches(tuple(str(self.frame_path(s)) for s in stems.values()))
        handed_over = self._hand_over(context, stems)
        if handed_over is not None:
            return handed_over
        days = []
        for key, stem in stems.items():
            try:
                days.append(self._read_tables(context, stem))
            except FileNotFoundError:
                if not (allow_missing and key is not None):
                    raise
                context.log.warning(self.get_missing_partition_log_message(key))
        return self._to_value(context.dagster_type.typing_type, days)


class ParquetIOManager(ConfigurableIOManagerFactory):
    """Parquet files per asset and day under ``base_url`` (a folder or ``s3://bucket/prefix``).

    S3 endpoint and credentials come from the standard AWS environment variables
    (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...), never from this config.
    """

    base_url: str = Field(description="Local folder or fsspec URL such as s3://bucket/prefix.")

    def create_io_manager(self, context: InitResourceContext) -> ParquetFilesIOManager:
        root = store_path(normalize_storage_url(self.base_url))
        launcher = remote_run_launcher(getattr(context, "instance", None))
        if launcher is not None and is_local(root):
            raise ObjectStoreAccessError(
                f"the object store is a local folder ({root}), but this Dagster instance runs "
                f"each run on a worker of its own ({launcher}), and workers share no folder: "
                "set FRAUD_STORAGE_URL to s3://bucket/prefix (see deploy/)",
                retryable=False,
            )
        return ParquetFilesIOManager(root)
