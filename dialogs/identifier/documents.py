"""What an approved values identifier becomes: a one-page Word document, a one-page PDF, a badge
(SVG and PNG). Pure functions over an ``IdentifierView``: no database, no request.

Text people wrote is only ever set as plain text: Word runs (python-docx escapes them), the PDF's
paragraphs with their mini-markup escaped (``xml.sax.saxutils.escape``), SVG built with
ElementTree (which escapes text and attributes), the PNG drawn as pixels.

**One page.** Statements are at most 300 characters, the vision sentence too, the title 200 and
the owner 120; still, long words in capitals take more room than short ones. ``fit`` lays the
page out with Helvetica's metrics (Arial, the Word page's font, has the same widths) and picks
the largest type scale whose lines fit the A4 page; the PDF is built at that scale and, should
reportlab still need a second page, smaller again until it does not.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from docx import Document
from docx.document import Document as WordDocument
from docx.enum.text import WD_BREAK
from docx.shared import Mm, Pt, RGBColor
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from bot.content import Content
from storage.identifiers import Identifier

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
BLUE = "#005eb8"
GREY = "#4c6272"
PALE = "#d8dde0"
NOT_RELEVANT = "Not relevant to this publication."
HEADING = "Values identifier"

# The page: A4 with 20 mm margins all round (in points).
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 20 * mm
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN
TEXT_HEIGHT = PAGE_HEIGHT - 2 * MARGIN
SCALES = (1.0, 0.92, 0.85, 0.78, 0.72, 0.66, 0.6, 0.55, 0.5)
LEADING = 1.25


@dataclass(frozen=True, slots=True, kw_only=True)
class StatementView:
    """One behaviour on the identifier: its name and how the publication shows it (empty when
    not relevant)."""

    behaviour: str
    short: str
    text: str

    @property
    def relevant(self) -> bool:
        """False for "not relevant"."""
        return bool(self.text)


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentifierView:
    """An identifier as every output shows it."""

    id: str
    reference: str
    title: str
    organisation: str
    vision: str
    helps: str
    statements: tuple[StatementView, ...]
    owner: str
    intended: date
    url: str
    """The address of its page (absolute when the bot knows its own)."""

    @property
    def date_text(self) -> str:
        """ "1 May 2027"."""
        return f"{self.intended.day} {self.intended:%B %Y}"

    @property
    def covered(self) -> int:
        """How many behaviours the publication shows."""
        return sum(1 for s in self.statements if s.relevant)

    @property
    def summary(self) -> str:
        """One line describing the identifier (the badge's accessible name)."""
        shown = ", ".join(s.short for s in self.statements if s.relevant) or "none"
        return (
            f"{HEADING} {self.reference}: {self.title}. Shows {self.covered} of our "
            f"{len(self.statements)} behaviours ({shown})."
        )

    @property
    def footer(self) -> str:
        """Who owns it, when it is published, its reference."""
        return (
            f"Owner: {self.owner} · Intended publication: {self.date_text} · "
            f"Reference: {self.reference}"
        )


def identifier_view(content: Content, identifier: Identifier, base: str = "") -> IdentifierView:
    """The identifier in the content's words and order; ``base`` is the site's address."""
    given = {s.behaviour: s.text for s in identifier.statements}
    return IdentifierView(
        id=identifier.id,
        reference=identifier.reference,
        title=identifier.title,
        organisation=content.organisation,
        vision=content.vision,
        helps=identifier.vision,
        statements=tuple(
            StatementView(behaviour=b.name, short=b.short, text=given.get(b.id, ""))
            for b in content.behaviours
        ),
        owner=identifier.owner,
        intended=identifier.intended,
        url=f"{base.rstrip('/')}/identifier/{identifier.id}",
    )


# The page's parts, shared by the Word page, the PDF and the layout model.


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """A paragraph of the page: its text, type size (before scaling), weight, colour and the
    space after it."""

    text: str
    size: float
    bold: bool = False
    italic: bool = False
    colour: str = "#212b32"
    after: float = 4.0


def blocks(view: IdentifierView) -> list[Block]:
    """The page from top to bottom."""
    parts = [
        Block(text=HEADING.upper(), size=10, bold=True, colour=BLUE, after=2),
        Block(text=view.title, size=18, bold=True, after=6),
        Block(text=f"Our vision: {view.vision}", size=11, italic=True, after=3),
        Block(text=f"How this publication helps us achieve it: {view.helps}", size=10.5, after=8),
        Block(
            text=f"How it is in line with our values ({view.covered} of "
            f"{len(view.statements)} behaviours):",
            size=11,
            bold=True,
            colour=BLUE,
            after=4,
        ),
    ]
    for statement in view.statements:
        parts.append(Block(text=statement.behaviour, size=10, bold=True, after=1))
        parts.append(
            Block(
                text=statement.text or NOT_RELEVANT,
                size=10,
                italic=not statement.relevant,
                colour="#212b32" if statement.relevant else GREY,
                after=6,
            )
        )
    parts.append(Block(text=view.footer, size=9, colour=GREY, after=2))
    parts.append(
        Block(
            text=f"Checked against our values by {view.organisation} before publication: "
            f"{view.url}",
            size=9,
            colour=GREY,
            after=0,
        )
    )
    return parts


def _font(block: Block) -> str:
    if block.bold:
        return "Helvetica-BoldOblique" if block.italic else "Helvetica-Bold"
    return "Helvetica-Oblique" if block.italic else "Helvetica"


def lines(text: str, font: str, size: float, width: float = TEXT_WIDTH) -> list[str]:
    """``text`` broken into lines as a word processor does: at spaces, and a word too long for
    a line broken where it meets the margin."""
    words: list[str] = []
    for word in text.split():
        while stringWidth(word, font, size) > width:
            cut = len(word) - 1
            while cut > 1 and stringWidth(word[:cut], font, size) > width:
                cut -= 1
            words.append(word[:cut])
            word = word[cut:]
        words.append(word)
    return simpleSplit(" ".join(words), font, size, width) or [""]


def height(view: IdentifierView, scale: float) -> float:
    """How tall the page's text is at ``scale``, laid out with Helvetica's widths."""
    total = 0.0
    for block in blocks(view):
        size = block.size * scale
        total += len(lines(block.text, _font(block), size)) * size * LEADING
        total += block.after * scale
    return total


def fit(view: IdentifierView) -> float:
    """The largest type scale at which the page fits on one A4 page."""
    for scale in SCALES:
        if height(view, scale) <= TEXT_HEIGHT:
            return scale
    return SCALES[-1]


# Word


def add_identifier(document: WordDocument, view: IdentifierView, scale: float) -> list[object]:
    """Append the identifier's paragraphs to ``document`` in direct formatting (any document's
    styles will do); the paragraph elements added, in order."""
    added: list[object] = []
    for block in blocks(view):
        paragraph = document.add_paragraph()
        paragraph.paragraph_format.space_before = Pt(0)
        paragraph.paragraph_format.space_after = Pt(block.after * scale)
        paragraph.paragraph_format.line_spacing = 1.0
        run = paragraph.add_run(block.text)
        run.bold = block.bold
        run.italic = block.italic
        run.font.name = "Arial"
        run.font.size = Pt(round(block.size * scale * 2) / 2)
        run.font.color.rgb = RGBColor.from_string(block.colour.lstrip("#").upper())
        added.append(paragraph._p)
    return added


def identifier_docx(view: IdentifierView) -> bytes:
    """The identifier as a one-page Word document (A4), to paste at the front of the
    publication."""
    document = Document()
    document.core_properties.title = f"{HEADING}: {view.title}"
    document.core_properties.subject = view.reference
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(20))
    # The template's empty first paragraph would push the page down by a line.
    body = document.element.body
    for paragraph in list(document.paragraphs):
        body.remove(paragraph._p)
    add_identifier(document, view, fit(view))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def page_break_paragraph(document: WordDocument) -> object:
    """A paragraph holding only a page break, appended to ``document``; its element."""
    paragraph = document.add_paragraph()
    paragraph.add_run().add_break(WD_BREAK.PAGE)
    return paragraph._p


# PDF


def _pdf(view: IdentifierView, scale: float) -> tuple[bytes, int]:
    out = io.BytesIO()
    template = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"{HEADING}: {view.title}",
        subject=view.reference,
        author=view.organisation,
    )
    story: list[object] = []
    for n, block in enumerate(blocks(view)):
        style = ParagraphStyle(
            f"b{n}",
            fontName=_font(block),
            fontSize=block.size * scale,
            leading=block.size * scale * LEADING,
            textColor=HexColor(block.colour),
            spaceAfter=0,
        )
        story.append(Paragraph(escape(block.text), style))
        story.append(Spacer(1, block.after * scale))
    template.build(story)
    return out.getvalue(), int(template.page)


def identifier_pdf(view: IdentifierView) -> bytes:
    """The identifier as a one-page PDF (A4)."""
    start = SCALES.index(fit(view))
    for scale in SCALES[start:]:
        data, pages = _pdf(view, scale)
        if pages == 1:
            return data
    return data  # pragma: no cover - the smallest scale fits every identifier within limits


# Badge


def _segments(covered: Sequence[bool]) -> list[tuple[float, float, bool]]:
    """Where each behaviour's dot sits around the ring (x, y on a 64-unit square) and whether
    the publication shows it."""
    count = len(covered)
    spots = []
    for n, shown in enumerate(covered):
        angle = -math.pi / 2 + 2 * math.pi * n / max(count, 1)
        spots.append((32 + 20 * math.cos(angle), 32 + 20 * math.sin(angle), shown))
    return spots


BADGE_WIDTH, BADGE_HEIGHT = 240, 64


def badge_svg(view: IdentifierView) -> str:
    """The badge: six dots (filled for the behaviours shown), "Values identifier", how many
    behaviours and the reference, linking to the identifier's page. No scripts, no styles:
    presentation attributes only (pages forbid inline styles)."""
    ns = "http://www.w3.org/2000/svg"
    ElementTree.register_namespace("", ns)

    def element(parent: ElementTree.Element, tag: str, **attributes: str) -> ElementTree.Element:
        return ElementTree.SubElement(parent, f"{{{ns}}}{tag}", attributes)

    svg = ElementTree.Element(
        f"{{{ns}}}svg",
        {
            "width": str(BADGE_WIDTH),
            "height": str(BADGE_HEIGHT),
            "viewBox": f"0 0 {BADGE_WIDTH} {BADGE_HEIGHT}",
            "role": "img",
            "aria-labelledby": "badge-title",
        },
    )
    title = element(svg, "title", id="badge-title")
    title.text = view.summary
    link = element(svg, "a", href=view.url)
    element(
        link,
        "rect",
        x="0.5",
        y="0.5",
        width=str(BADGE_WIDTH - 1),
        height=str(BADGE_HEIGHT - 1),
        rx="8",
        fill="#ffffff",
        stroke=BLUE,
    )
    for x, y, shown in _segments([s.relevant for s in view.statements]):
        element(
            link,
            "circle",
            cx=f"{x:.1f}",
            cy=f"{y:.1f}",
            r="7",
            fill=BLUE if shown else "#ffffff",
            stroke=BLUE if shown else GREY,
        )
    for text, y, size, weight, colour in (
        (HEADING, 24, "15", "bold", BLUE),
        (
            f"{view.covered} of {len(view.statements)} behaviours shown",
            42,
            "12",
            "normal",
            "#212b32",
        ),
        (view.reference, 56, "10", "normal", GREY),
    ):
        line = element(
            link,
            "text",
            x="66",
            y=str(y),
            fill=colour,
            **{"font-family": "Arial, Helvetica, sans-serif", "font-size": size},
            **{"font-weight": weight},
        )
        line.text = text
    return ElementTree.tostring(svg, encoding="unicode", xml_declaration=False)


def badge_png(view: IdentifierView, scale: int = 2) -> bytes:
    """The badge as a PNG (drawn at ``scale`` times its size, for sharp screens)."""
    image = Image.new("RGB", (BADGE_WIDTH * scale, BADGE_HEIGHT * scale), "#ffffff")
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(
        (0, 0, BADGE_WIDTH * scale - 1, BADGE_HEIGHT * scale - 1),
        radius=8 * scale,
        outline=BLUE,
        width=scale,
    )
    radius = 7 * scale
    for x, y, shown in _segments([s.relevant for s in view.statements]):
        box = (x * scale - radius, y * scale - radius, x * scale + radius, y * scale + radius)
        draw.ellipse(
            box, fill=BLUE if shown else "#ffffff", outline=BLUE if shown else GREY, width=scale
        )
    for text, y, size, colour in (
        (HEADING, 12, 15, BLUE),
        (f"{view.covered} of {len(view.statements)} behaviours shown", 31, 12, "#212b32"),
        (view.reference, 46, 10, GREY),
    ):
        font = ImageFont.load_default(size=size * scale)
        draw.text((66 * scale, y * scale), text, fill=colour, font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
