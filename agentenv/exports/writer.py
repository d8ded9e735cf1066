"""Writing records as JSON lines or Parquet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

Format = Literal["jsonl", "parquet"]


def write_records(records: list[dict[str, Any]], out: Path, file_format: Format) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".tmp")
    if file_format == "jsonl":
        with open(temporary, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        # Imported here: pyarrow costs every CLI command tens of milliseconds at start-up.
        import pyarrow as pa
        import pyarrow.parquet as pq

        # One schema for every record: arrow unifies struct fields (absent ones become null).
        table = pa.Table.from_pylist(records) if records else pa.table({})
        pq.write_table(table, temporary)
    temporary.replace(out)
    return out
