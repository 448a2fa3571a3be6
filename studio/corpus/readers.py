"""Reading a corpus from disk: BEIR corpus.jsonl, JSONL or CSV with a text column, or a folder or
.zip of .txt, .md, .html and .pdf files. Every reader returns whole documents or raises a
StudioError whose one line names the file (and line) at fault, so a bad corpus stores nothing."""

import csv
import io
import json
import sys
import zipfile
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

from studio.errors import StudioError

DOCUMENT_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")
TABLE_SUFFIXES = (".jsonl", ".csv")
MAX_EXPANDED_BYTES = 1024 ** 3   # a zip that would unpack to more than this is refused
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str


def read_corpus(path, max_expanded_bytes: int = MAX_EXPANDED_BYTES) -> list[Document]:
    """The documents at `path` (a file or a folder), in file and line order."""
    path = Path(path)
    if not path.exists():
        raise StudioError(f"{path}: no such file or folder")
    if path.is_dir():
        return _read_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _read_zip(path, max_expanded_bytes)
    if suffix == ".jsonl":
        return read_jsonl(path.name, path.read_bytes())
    if suffix == ".csv":
        return read_csv(path.name, path.read_bytes())
    if suffix in DOCUMENT_SUFFIXES:
        return [read_document(path.name, path.read_bytes())]
    raise StudioError(f"{path.name}: not a corpus format (give a .jsonl, .csv or .zip file, a folder, "
                      f"or a {', '.join(DOCUMENT_SUFFIXES)} file)")


def _decode(name: str, data: bytes) -> str:
    if b"\x00" in data:
        raise StudioError(f"{name}: not a text file (it holds binary data)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise StudioError(f"{name}: not UTF-8 text (byte {error.start})") from None


def _field(value, name: str, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise StudioError(f"{where}: '{name}' must be a string")
    return value


def _document(doc_id: str, title: str, text: str, where: str) -> Document:
    title, text = title.strip(), text.strip()
    if not text:
        text = title   # BEIR documents may have a title and no body
    if not text:
        raise StudioError(f"{where}: the text is empty")
    return Document(doc_id, title, text)


def read_jsonl(name: str, data: bytes) -> list[Document]:
    """BEIR corpus.jsonl (`_id`, `title`, `text`) or any JSONL with a `text` field (`id`, `title` optional)."""
    documents = []
    for number, line in enumerate(_decode(name, data).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise StudioError(f"{where}: not valid JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise StudioError(f"{where}: expected a JSON object with a 'text' field")
        if "text" not in row:
            raise StudioError(f"{where}: no 'text' field")
        doc_id = _field(row.get("_id", row.get("id")), "_id", where) or str(number)
        documents.append(_document(doc_id, _field(row.get("title"), "title", where),
                                   _field(row["text"], "text", where), where))
    return documents


def read_csv(name: str, data: bytes) -> list[Document]:
    """A CSV whose header has a `text` column (`id` and `title` optional)."""
    csv.field_size_limit(sys.maxsize)
    reader = csv.DictReader(io.StringIO(_decode(name, data), newline=""))
    columns = [column.strip().lower() for column in reader.fieldnames or []]
    if "text" not in columns:
        raise StudioError(f"{name}: no 'text' column (the header has: {', '.join(columns) or 'nothing'})")
    reader.fieldnames = columns
    documents = []
    try:
        for row in reader:
            where = f"{name} line {reader.line_num}"
            if None in row:
                raise StudioError(f"{where}: more fields than the header has columns")
            doc_id = (row.get("id") or row.get("_id") or "").strip() or str(reader.line_num)
            documents.append(_document(doc_id, row.get("title") or "", row.get("text") or "", where))
    except csv.Error as error:
        raise StudioError(f"{name} line {reader.line_num}: not valid CSV ({error})") from None
    return documents


class _HTMLText(HTMLParser):
    """Visible text of an HTML page and its <title>; block elements end lines."""

    SKIP = {"script", "style", "noscript", "template", "head"}
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre",
              "blockquote", "table", "ul", "ol", "dd", "dt"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag in self.SKIP or tag == "title":
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_data(self, data):
        if "title" in self.stack:
            self.title_parts.append(data)
        elif not self.stack:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """(title, text) of an HTML page."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return " ".join("".join(parser.title_parts).split()), "\n".join(line for line in lines if line)


def pdf_to_text(name: str, data: bytes) -> tuple[str, str]:
    """(title, text) of a PDF, page by page, with pypdf."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or ""
    except (PyPdfError, ValueError, KeyError, TypeError) as error:
        raise StudioError(f"{name}: not a readable PDF ({str(error) or type(error).__name__})") from None
    text = "\n".join(pages).strip()
    if not text:
        raise StudioError(f"{name}: the PDF has no text to extract (a scanned image?)")
    return str(title), text


def read_document(name: str, data: bytes) -> Document:
    """One .txt, .md, .html or .pdf file; its id is `name` (its path inside the folder or zip)."""
    suffix = PurePosixPath(name).suffix.lower()
    stem = PurePosixPath(name).stem
    if suffix == ".pdf":
        title, text = pdf_to_text(name, data)
    elif suffix in (".html", ".htm"):
        title, text = html_to_text(_decode(name, data))
    elif suffix in (".txt", ".md"):
        text = _decode(name, data)
        title = ""
        if suffix == ".md":
            first = next((line for line in text.splitlines() if line.strip()), "")
            if first.startswith("# "):
                title = first[2:].strip()
    else:
        raise StudioError(f"{name}: not a supported file (use {', '.join(DOCUMENT_SUFFIXES)})")
    return _document(name, title or stem, text, name)


def _hidden(parts) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def _read_folder(folder: Path) -> list[Document]:
    documents = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_dir() or _hidden(relative.parts):
            continue
        documents.append(read_document(relative.as_posix(), path.read_bytes()))
    if not documents:
        raise StudioError(f"{folder}: the folder holds no {', '.join(DOCUMENT_SUFFIXES)} files")
    return documents


def _safe_member(member: str) -> bool:
    path = PurePosixPath(member.replace("\\", "/"))
    return not (path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]))


def _read_zip(path: Path, max_expanded_bytes: int) -> list[Document]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise StudioError(f"{path.name}: not a readable zip file ({error})") from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        for info in members:
            if not _safe_member(info.filename):
                raise StudioError(f"{path.name}: the entry '{info.filename}' points outside the zip's folder; refused")
        declared = sum(info.file_size for info in members)
        if declared > max_expanded_bytes:
            raise StudioError(f"{path.name}: it would unpack to {declared / 2**20:.0f} MB, over the limit of "
                              f"{max_expanded_bytes / 2**20:.0f} MB")
        documents = []
        expanded = 0
        for info in sorted(members, key=lambda item: item.filename):
            if _hidden(PurePosixPath(info.filename).parts):
                continue
            data = bytearray()
            try:
                with archive.open(info) as member:
                    # The sizes a zip declares can lie: count what really comes out.
                    while chunk := member.read(_READ_CHUNK):
                        expanded += len(chunk)
                        if expanded > max_expanded_bytes:
                            raise StudioError(f"{path.name}: it unpacks to more than the limit of "
                                              f"{max_expanded_bytes / 2**20:.0f} MB; refused")
                        data += chunk
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
                raise StudioError(f"{path.name}: the entry '{info.filename}' cannot be read ({error})") from None
            documents.append(read_document(info.filename, bytes(data)))
    if not documents:
        raise StudioError(f"{path.name}: the zip holds no {', '.join(DOCUMENT_SUFFIXES)} files")
    return documents
