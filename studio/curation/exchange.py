"""Import and export of examples in the line format of DESIGN.md.

A line holds `query`, `positive`, `negative` (null where none), `instruction`, `family` and
`language`; exports add `id` and `status`. Imports are all-or-nothing: one malformed line
refuses the whole file (with the numbers of every bad line) unless the caller asks to skip them.
"""

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from storage.curation import ExampleFilter, where_clause
from storage.examples import insert_examples
from studio.config import data_dir
from studio.errors import StudioError
from studio.prompts.families import FAMILIES

LINE_KEYS = ("query", "positive", "negative", "instruction", "family", "language")
EXPORT_KEYS = ("id",) + LINE_KEYS + ("status",)
# Keys an exported line carries that an import accepts and ignores (status comes from the option).
IGNORED_KEYS = ("id", "status")
IMPORT_STATUSES = ("pending", "accepted")
EXPORT_STATUSES = ("accepted", "pending", "rejected", "all")
FORMATS = ("jsonl", "hf", "st")

MAX_IMPORT_BYTES = 256 * 1024 * 1024
MAX_IMPORT_ROWS = 1_000_000
SHOWN_BAD_LINES = 20


@dataclass
class ImportReport:
    inserted: int = 0
    duplicates: int = 0
    skipped_lines: list[int] = field(default_factory=list)
    rows_read: int = 0

    def summary(self) -> str:
        text = f"imported {self.inserted} example(s) of {self.rows_read}; {self.duplicates} duplicate(s) skipped"
        if self.skipped_lines:
            text += f"; {len(self.skipped_lines)} bad line(s) skipped ({_line_list(self.skipped_lines)})"
        return text


@dataclass
class ExportReport:
    count: int
    path: Path
    left_out: int = 0        # sentence-transformers export: examples without a negative
    by_family: dict = field(default_factory=dict)
    by_language: dict = field(default_factory=dict)

    def summary(self) -> str:
        text = f"exported {self.count} example(s) to {self.path}"
        if self.left_out:
            text += (f"; {self.left_out} example(s) without a negative were left out "
                     "(mine negatives for them first)")
        return text


SKIP_HINT = "--skip-bad"  # the command line's way; the Curate tab names its checkbox


def _line_list(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:SHOWN_BAD_LINES])
    more = len(numbers) - SHOWN_BAD_LINES
    return f"line{'s' if len(numbers) != 1 else ''} {shown}" + (f" and {more} more" if more > 0 else "")


def validate_record(obj) -> tuple[dict | None, str | None]:
    """A parsed line as an example row, or the reason it is not one."""
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    unknown = sorted(set(obj) - set(LINE_KEYS) - set(IGNORED_KEYS))
    if unknown:
        return None, f"unknown key(s) {', '.join(unknown)}"
    for name in ("query", "positive"):
        value = obj.get(name)
        if not isinstance(value, str) or not value.strip():
            return None, f"{name} must be non-empty text"
    negative = obj.get("negative")
    if negative is not None and not isinstance(negative, str):
        return None, "negative must be text or null"
    instruction = obj.get("instruction", "")
    if not isinstance(instruction, str):
        return None, "instruction must be text"
    family = obj.get("family")
    if family not in FAMILIES:
        return None, f"family must be one of {', '.join(FAMILIES)}"
    language = obj.get("language", "English")
    if not isinstance(language, str) or not language.strip():
        return None, "language must be non-empty text"
    return {"query": obj["query"], "positive": obj["positive"], "negative": negative,
            "instruction": instruction, "family": family, "language": language}, None


def _jsonl_records(handle):
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line), None
        except json.JSONDecodeError as error:
            yield number, None, f"not valid JSON ({error.msg})"


def _csv_records(handle):
    csv.field_size_limit(2**31 - 1)
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [name.strip() for name in header]
    missing = {"query", "positive", "family"} - set(header)
    if missing:
        raise StudioError(f"the CSV header lacks the column(s) {', '.join(sorted(missing))}; "
                          f"use the columns {', '.join(LINE_KEYS)}")
    start = reader.line_num + 1
    try:
        for cells in reader:
            number, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                yield number, None, f"has {len(cells)} cells, the header has {len(header)}"
                continue
            yield number, dict(zip(header, cells)), None  # an empty negative is stored as none
    except csv.Error as error:
        yield start, None, f"unreadable CSV ({error})"


def read_examples(path, skip_bad: bool = False, max_bytes: int = MAX_IMPORT_BYTES,
                  max_rows: int = MAX_IMPORT_ROWS, skip_hint: str = SKIP_HINT) -> tuple[list[dict], list[int]]:
    """Parse and validate a JSONL or CSV file; returns (rows, numbers of skipped bad lines).
    skip_hint says how the caller's face skips bad lines (a flag, a checkbox)."""
    path = Path(path)
    if not path.is_file():
        raise StudioError(f"{path} is not a file: give the path of a .jsonl or .csv file")
    size = path.stat().st_size
    if size > max_bytes:
        raise StudioError(f"{path.name} is {size / 2**20:.1f} MiB, over the import limit of "
                          f"{max_bytes / 2**20:.0f} MiB: split it into smaller files")
    is_csv = path.suffix.lower() == ".csv"
    rows, bad = [], []
    try:
        with open(path, encoding="utf-8-sig", newline="" if is_csv else None) as handle:
            records = _csv_records(handle) if is_csv else _jsonl_records(handle)
            for number, obj, problem in records:
                if problem is None:
                    row, problem = validate_record(obj)
                if problem is not None:
                    bad.append((number, problem))
                    continue
                rows.append(row)
                if len(rows) > max_rows:
                    raise StudioError(f"{path.name} has more than {max_rows:,} examples, the import limit: "
                                      "split it into smaller files")
    except UnicodeDecodeError:
        raise StudioError(f"{path.name} is not UTF-8 text: save it as UTF-8 and import it again") from None
    if bad and not skip_bad:
        first_number, first_reason = bad[0]
        lines = "1 bad line" if len(bad) == 1 else f"{len(bad)} bad lines"
        raise StudioError(f"{path.name} was not imported: {lines}, {_line_list([n for n, _ in bad])}"
                          f" (line {first_number}: {first_reason}); fix them, or import again skipping bad lines"
                          f" ({skip_hint})")
    if not rows and not bad:
        raise StudioError(f"{path.name} holds no examples: each line needs query, positive and family")
    return rows, [number for number, _ in bad]


def import_file(db, path, status: str = "pending", skip_bad: bool = False,
                max_bytes: int = MAX_IMPORT_BYTES, max_rows: int = MAX_IMPORT_ROWS,
                skip_hint: str = SKIP_HINT) -> ImportReport:
    """Validate the whole file first, then insert it in one transaction (duplicates skipped)."""
    if status not in IMPORT_STATUSES:
        raise StudioError(f"imported examples can be pending or accepted, not {status!r}")
    rows, skipped = read_examples(path, skip_bad=skip_bad, max_bytes=max_bytes, max_rows=max_rows,
                                  skip_hint=skip_hint)
    for row in rows:
        row["status"] = status
        row["source"] = "import"
    result = insert_examples(db, rows)
    return ImportReport(inserted=result.inserted, duplicates=result.duplicates, skipped_lines=skipped,
                        rows_read=len(rows))


def _export_rows(db, flt: ExampleFilter):
    where, params = where_clause(flt)
    cursor = db.execute(f"SELECT {', '.join('e.' + key for key in EXPORT_KEYS)} FROM examples e"
                        f" WHERE {where} ORDER BY e.id", params)
    for values in cursor:
        yield dict(zip(EXPORT_KEYS, values))


def export_filter(status: str = "accepted", flt: ExampleFilter | None = None) -> ExampleFilter:
    """The filter an export runs with: `status` (accepted by default, or all) over the other filters."""
    if status not in EXPORT_STATUSES:
        raise StudioError(f"export status must be one of {', '.join(EXPORT_STATUSES)}")
    flt = ExampleFilter.from_dict((flt or ExampleFilter()).to_dict())
    flt.status = None if status == "all" else status
    return flt


def anchor_text(instruction: str, query: str) -> str:
    """The query as the method's recipe feeds it to the model (documents get no instruction)."""
    return f"Instruct: {instruction}\nQuery: {query}" if instruction else query


def export(db, fmt: str, out, status: str = "accepted", flt: ExampleFilter | None = None) -> ExportReport:
    """Write the matching examples as JSONL, a Hugging Face datasets folder, or anchor/positive/negative."""
    if fmt not in FORMATS:
        raise StudioError(f"export format must be one of {', '.join(FORMATS)}")
    flt = export_filter(status, flt)
    out = Path(out)
    if fmt == "hf":
        return _export_hf(db, flt, out, status)
    if out.exists() and out.is_dir():
        raise StudioError(f"{out} is a folder: give a file path for the {fmt} export")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        report = _write_jsonl(out, _export_rows(db, flt))
    else:
        report = _export_st(db, flt, out)
    return report


def _count(report: ExportReport, row: dict) -> None:
    report.count += 1
    report.by_family[row["family"]] = report.by_family.get(row["family"], 0) + 1
    report.by_language[row["language"]] = report.by_language.get(row["language"], 0) + 1


def _write_jsonl(out: Path, rows) -> ExportReport:
    report = ExportReport(0, out)
    temporary = out.with_name(out.name + ".partial")
    with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            _count(report, row)
    os.replace(temporary, out)
    return report


def _st_rows(db, flt: ExampleFilter, report: ExportReport):
    for row in _export_rows(db, flt):
        if row["negative"] is None:
            report.left_out += 1
            continue
        report.count += 1
        yield {"anchor": anchor_text(row["instruction"], row["query"]), "positive": row["positive"],
               "negative": row["negative"]}


def _export_st(db, flt: ExampleFilter, out: Path) -> ExportReport:
    report = ExportReport(0, out)
    if out.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = list(_st_rows(db, flt, report))
        schema = pa.schema([("anchor", pa.string()), ("positive", pa.string()), ("negative", pa.string())])
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), out)
        return report
    temporary = out.with_name(out.name + ".partial")
    with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
        for row in _st_rows(db, flt, report):
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(temporary, out)
    return report


HF_DATA_FILE = "data/train-00000-of-00001.parquet"


def _export_hf(db, flt: ExampleFilter, out: Path, status: str) -> ExportReport:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if out.exists() and not out.is_dir():
        raise StudioError(f"{out} is a file: give a folder path for the Hugging Face export")
    (out / "data").mkdir(parents=True, exist_ok=True)
    report = ExportReport(0, out)
    rows = []
    for row in _export_rows(db, flt):
        rows.append(row)
        _count(report, row)
    schema = pa.schema([("id", pa.int64())] + [(key, pa.string()) for key in EXPORT_KEYS[1:]])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), out / HF_DATA_FILE)
    (out / "README.md").write_text(dataset_card(report, status), encoding="utf-8")
    return report


def dataset_card(report: ExportReport, status: str) -> str:
    """A Hugging Face dataset card: the YAML header `datasets` reads, and counts a reader wants."""
    features = "\n".join(f"  - name: {key}\n    dtype: {'int64' if key == 'id' else 'string'}"
                         for key in EXPORT_KEYS)
    families = "\n".join(f"| {name} | {n} |" for name, n in sorted(report.by_family.items(), key=lambda kv: -kv[1]))
    languages = "\n".join(f"| {name} | {n} |"
                          for name, n in sorted(report.by_language.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"""---
configs:
- config_name: default
  data_files:
  - split: train
    path: {HF_DATA_FILE}
dataset_info:
  features:
{features}
  splits:
  - name: train
    num_examples: {report.count}
task_categories:
- sentence-similarity
- feature-extraction
---

# Synthetic embedding training data

Written by an LLM and curated in Embedding Studio, following "Improving Text Embeddings with
Large Language Models" (Wang et al., 2024). Status exported: **{status}**. Examples: **{report.count}**.

Each row is one training example: a `query` (fed to the model as
`Instruct: {{instruction}}\\nQuery: {{query}}`), its `positive` document, and a hard `negative`
(null where the family has none; mine one before training).

## Examples by task family

| family | examples |
|---|---|
{families or "| (none) | 0 |"}

## Examples by language

| language | examples |
|---|---|
{languages or "| (none) | 0 |"}
"""


def ui_export_path(name: str, fmt: str) -> Path:
    """Where a UI export goes: always a path inside `<data dir>/exports` (no escaping via .. or /)."""
    name = (name or "").strip()
    if not name:
        raise StudioError("give the export a name, e.g. accepted.jsonl")
    root = (data_dir() / "exports").resolve()
    target = (root / name).resolve()
    if Path(name).is_absolute() or not target.is_relative_to(root) or target == root:
        raise StudioError("exports from the browser stay inside the data folder: give a plain name like "
                          "accepted.jsonl, without / or ..")
    if fmt in ("jsonl", "st") and target.suffix.lower() not in (".jsonl", ".parquet", ".json"):
        target = target.with_name(target.name + ".jsonl")
    return target

