"""Turn an MLflow scoring payload into a list of records, whichever of the four formats it uses."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.servers.endpoint.errors import ApiError

__all__ = ["ENTITY_FIELD", "FORMATS", "Record", "entity_key", "parse_records"]

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
ENTITY_FIELD = "entity_id"

Record = dict[str, Any]
# Field names of positional values, made once rather than formatted for every row of every call.
_POSITIONS = tuple(str(i) for i in range(64))


def parse_records(payload: object) -> list[Record]:
    """Records of a decoded request body; raises ApiError(400) naming what was wrong."""
    if not isinstance(payload, dict):
        raise _bad(f"expected a JSON object but got a JSON {type(payload).__name__}")
    data_keys = [key for key in payload if key != "params"]
    if len(data_keys) != 1 or data_keys[0] not in FORMATS:
        raise _bad(
            f"expected exactly one of {list(FORMATS)} (plus optional 'params') "
            f"but got keys={sorted(payload)}"
        )
    if "params" in payload and not isinstance(payload["params"], dict):
        raise _bad(f"expected 'params' to be an object but got params={payload['params']!r}")
    fmt = data_keys[0]
    value = payload[fmt]
    if fmt == "dataframe_split":
        return _from_split(value)
    if fmt == "dataframe_records":
        return _from_records(value)
    return _from_instances(fmt, value)


def entity_key(record: Record) -> str:
    """The key the feature store is asked about: `entity_id` if given, else a hash of the record."""
    given = record.get(ENTITY_FIELD)
    if given is not None:
        return str(given)
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()


def _from_split(value: object) -> list[Record]:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise _bad("expected dataframe_split to be an object with a 'data' list of rows")
    rows: list[object] = value["data"]
    columns = value.get("columns")
    if columns is not None and not (
        isinstance(columns, list) and all(isinstance(c, str) for c in columns)
    ):
        raise _bad(
            f"expected dataframe_split 'columns' to be a list of strings but got {columns!r}"
        )
    records = []
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise _bad(f"expected dataframe_split row {i} to be a list but got {row!r}")
        if columns is not None and len(row) != len(columns):
            raise _bad(
                f"expected {len(columns)} values per dataframe_split row but got "
                f"{len(row)} in row {i}"
            )
        records.append(dict(zip(columns, row, strict=True)) if columns else _positional(row))
    return records


def _from_records(value: object) -> list[Record]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _bad("expected dataframe_records to be a list of objects")
    return [dict(item) for item in value]


def _from_instances(fmt: str, value: object) -> list[Record]:
    if isinstance(value, dict):
        return _from_columns(fmt, value)
    if not isinstance(value, list):
        raise _bad(f"expected {fmt} to be a list or an object of columns but got {value!r}")
    records: list[Record] = []
    for item in value:
        if isinstance(item, dict):
            records.append(dict(item))
        elif isinstance(item, list):
            records.append(_positional(item))
        else:
            records.append(_positional([item]))
    return records


def _from_columns(fmt: str, columns: dict[str, Any]) -> list[Record]:
    # TF-serving columnar form: {"a": [1, 2], "b": [3, 4]} holds two records.
    lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    if len(lengths) > 1 or -1 in lengths:
        raise _bad(f"expected {fmt} columns to be lists of one common length")
    n = lengths.pop() if lengths else 0
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


def _positional(values: list[Any]) -> Record:
    if len(values) <= len(_POSITIONS):
        # The names outnumber the values; zip stops at the last value.
        return dict(zip(_POSITIONS, values, strict=False))
    return {str(i): v for i, v in enumerate(values)}


def _bad(message: str) -> ApiError:
    return ApiError(400, message)
