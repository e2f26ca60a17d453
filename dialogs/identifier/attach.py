"""A publication in, the publication out: an approved values identifier put at the front of a
Word document or a PDF (``valuesbot identifier attach``).

- **Word**: the identifier's paragraphs (in direct formatting, so any document's styles will
  do) and a page break go before the document's first paragraph; everything else, its styles,
  headers, images and sections, is saved as it was.
- **PDF**: the identifier's one-page PDF (``documents.identifier_pdf``) becomes the first page;
  the publication's pages, outline, links and metadata are kept (pypdf).

A file that cannot be read (damaged, not the kind it says, an old binary ``.doc``) or that is
password-protected is refused with an ``AttachError`` saying so; nothing is made.
"""

from __future__ import annotations

import io
import zipfile

from docx import Document
from pypdf import PdfReader, PdfWriter

from dialogs.identifier.documents import (
    IdentifierView,
    add_identifier,
    fit,
    identifier_pdf,
    page_break_paragraph,
)

# Office's encrypted documents (and the old binary formats) are compound files, not zips.
COMPOUND_FILE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
# A PDF's header may follow a little junk; readers look this far.
PDF_HEADER_WITHIN = 1024


class AttachError(Exception):
    """A file the identifier cannot be put in front of; the message says why."""


def attach_docx(view: IdentifierView, data: bytes, name: str = "the file") -> bytes:
    """The Word document ``data`` with the identifier as its first page."""
    if data.startswith(COMPOUND_FILE):
        if ENCRYPTED_PACKAGE in data:
            raise AttachError(
                f"{name} is password-protected: remove its password in Word (File, Info, "
                "Protect document), save it, and try again"
            )
        raise AttachError(f"{name} is an old Word document (.doc): save it as .docx first")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise AttachError(f"{name} is not a Word document (.docx), or it is damaged")
    try:
        document = Document(io.BytesIO(data))
        body = document.element.body
        first = body[0] if len(body) else None
    except Exception as error:
        raise AttachError(f"{name} could not be read as a Word document: it may be damaged") from (
            error
        )
    added = [*add_identifier(document, view, fit(view)), page_break_paragraph(document)]
    for element in added:
        if first is not None:
            first.addprevious(element)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def attach_pdf(view: IdentifierView, data: bytes, name: str = "the file") -> bytes:
    """The PDF ``data`` with the identifier as its first page."""
    if b"%PDF-" not in data[:PDF_HEADER_WITHIN]:
        raise AttachError(f"{name} is not a PDF")
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as error:
        raise AttachError(f"{name} could not be read as a PDF: it may be damaged") from error
    if encrypted:
        raise AttachError(
            f"{name} is password-protected: save a copy without its password and try again"
        )
    try:
        pages = len(reader.pages)
        for page in reader.pages:
            page.get_contents()
        writer = PdfWriter(clone_from=reader)
    except Exception as error:
        raise AttachError(f"{name} could not be read as a PDF: it may be damaged") from error
    if pages == 0:
        raise AttachError(f"{name} has no pages")
    identifier = PdfReader(io.BytesIO(identifier_pdf(view))).pages[0]
    writer.insert_page(identifier, 0)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def attach(view: IdentifierView, data: bytes, kind: str, name: str = "the file") -> bytes:
    """``data`` (a ``docx`` or a ``pdf``) with the identifier as its first page."""
    if kind == "docx":
        return attach_docx(view, data, name)
    if kind == "pdf":
        return attach_pdf(view, data, name)
    raise AttachError(f"{name}: only Word (.docx) and PDF (.pdf) files can take an identifier")
