"""Parse untrusted XML without ever expanding entities or touching the network.

Invoices arrive from strangers by email, so an XXE or billion-laughs payload must fail
fast with `UnsafeXml` rather than read local files or eat the memory. No e-invoice format
needs a DTD, so any DTD at all is refused.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml
from defusedxml.ElementTree import fromstring

from core.extraction.errors import ExtractionError, UnsafeXml

# Real invoices with thousands of lines stay well under this; beyond it we refuse rather
# than let a hostile attachment make the parser allocate without bound.
MAX_XML_BYTES = 16 * 1024 * 1024


def parse_xml(data: bytes) -> Element:
    """Parse `data` into an ElementTree element; raise UnsafeXml or ExtractionError."""
    if len(data) > MAX_XML_BYTES:
        raise ExtractionError("xml_too_large", f"{len(data)} bytes")
    try:
        return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden as exc:
        raise UnsafeXml("xml_dtd_forbidden", str(exc)) from exc
    except defusedxml.EntitiesForbidden as exc:
        raise UnsafeXml("xml_entities_forbidden", str(exc)) from exc
    except defusedxml.ExternalReferenceForbidden as exc:
        raise UnsafeXml("xml_external_reference_forbidden", str(exc)) from exc
    except defusedxml.DefusedXmlException as exc:
        raise UnsafeXml("xml_unsafe", str(exc)) from exc
    except ParseError as exc:
        raise ExtractionError("malformed_xml", str(exc)) from exc


def local_name(element: Element) -> str:
    """Return the tag of `element` without its `{namespace}` prefix."""
    return element.tag.rsplit("}", 1)[-1]


def namespace(element: Element) -> str:
    """Return the namespace URI of `element`, or "" when it has none."""
    return element.tag[1:].split("}", 1)[0] if element.tag.startswith("{") else ""
