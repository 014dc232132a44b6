"""Hostile XML fails fast with UnsafeXml: nothing is expanded, fetched or read from disk."""

from __future__ import annotations

import io
import time

import pytest
from pypdf import PdfWriter

from core.extraction.einvoice import ExtractionError, UnsafeXml, read_einvoice, read_facturx
from core.extraction.safexml import MAX_XML_BYTES
from tests.unit.extraction.pdf_builders import build_pdf

_UBL = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

XXE = f"""<?xml version="1.0"?>
<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Invoice xmlns="{_UBL}" xmlns:cbc="{_CBC}"><cbc:ID>&xxe;</cbc:ID></Invoice>""".encode()

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + b"".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + f']>\n<Invoice xmlns="{_UBL}" xmlns:cbc="{_CBC}"><cbc:ID>&lol9;</cbc:ID></Invoice>'.encode()
)

EXTERNAL_DTD = f"""<?xml version="1.0"?>
<!DOCTYPE Invoice SYSTEM "http://127.0.0.1:9/evil.dtd">
<Invoice xmlns="{_UBL}"/>""".encode()

PARAMETER_ENTITY = f"""<?xml version="1.0"?>
<!DOCTYPE Invoice [<!ENTITY % remote SYSTEM "file:///etc/passwd"> %remote;]>
<Invoice xmlns="{_UBL}"/>""".encode()

QUADRATIC = (
    f'<?xml version="1.0"?><!DOCTYPE Invoice [<!ENTITY a "{"x" * 50_000}">]>'
    f'<Invoice xmlns="{_UBL}" xmlns:cbc="{_CBC}"><cbc:ID>{"&a;" * 50_000}</cbc:ID></Invoice>'
).encode()

PAYLOADS = {
    "xxe": XXE,
    "billion_laughs": BILLION_LAUGHS,
    "external_dtd": EXTERNAL_DTD,
    "parameter_entity": PARAMETER_ENTITY,
    "quadratic_blowup": QUADRATIC,
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_hostile_xml_raises_unsafe_xml_fast(name: str) -> None:
    # CPU time, not wall time: on a busy machine the wall clock measures the neighbours.
    started = time.process_time()
    with pytest.raises(UnsafeXml) as caught:
        read_einvoice(PAYLOADS[name])
    assert time.process_time() - started < 1.0
    assert caught.value.reason.startswith("xml_")
    assert "root:" not in str(caught.value)


def test_unsafe_xml_is_an_extraction_error() -> None:
    assert issubclass(UnsafeXml, ExtractionError)


def test_hostile_xml_inside_a_facturx_pdf_is_refused() -> None:
    writer = PdfWriter(clone_from=io.BytesIO(build_pdf(["Facture n° 1"])))
    writer.add_attachment("factur-x.xml", BILLION_LAUGHS)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(UnsafeXml):
        read_facturx(out.getvalue())


def test_oversized_xml_is_refused_before_parsing() -> None:
    huge = b"<a>" + b" " * MAX_XML_BYTES + b"</a>"
    with pytest.raises(ExtractionError) as caught:
        read_einvoice(huge)
    assert caught.value.reason == "xml_too_large"
