"""Small corpus files for tests: a PDF with real text, zips, BEIR and CSV corpora."""

import io
import json
import zipfile


def pdf_bytes(text: str, title: str | None = None) -> bytes:
    """A one-page PDF whose page draws `text` in Helvetica (written by hand: pypdf reads, it does not typeset)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    info = f"<< /Title ({title}) >>" if title else "<< >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        info.encode("latin-1"),
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def write_zip(path, files: dict[str, bytes | str]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def write_beir_corpus(path, documents: list[tuple[str, str, str]]):
    """documents: (id, title, text)."""
    path.write_text("".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, t, x in documents),
                    encoding="utf-8")
    return path


# Ten one-topic documents, for corpus tests that need passages a small model tells apart.
TOPICS = {
    "volcano": "volcano eruption sends lava and ash over the village while magma rises under the crater",
    "chess": "chess opening strategy controls the centre with pawns and develops knights before bishops early",
    "bread": "sourdough bread baking needs a lively starter long fermentation and a very hot oven",
    "jazz": "jazz saxophone solo improvises over chord changes with swing rhythm and blue notes",
    "taxes": "tax return deadline falls in april and late filing brings penalties and interest charges",
    "marathon": "marathon training plan builds weekly mileage with long runs tempo runs and rest days",
    "reef": "coral reef bleaching happens when warm water makes corals expel their colourful algae",
    "bees": "honey bee colony has one queen thousands of workers and drones that live in the hive",
    "castle": "medieval castle siege used catapults battering rams and starvation to break the walls",
    "eclipse": "solar eclipse viewing needs special glasses because looking at the sun harms the eyes",
}
