"""The HTML reader gives the text a person sees, the cid: images and the links, in linear time."""

from __future__ import annotations

import time

import pytest

from mail.parse.html_text import read_html
from mail.parse.links import invoice_links


def test_text_skips_what_is_not_shown() -> None:
    reading = read_html(
        "<html><head><title>T</title><style>p {color: red}</style></head>"
        "<body><!-- hidden --><script>var a = '<p>no</p>';</script>"
        "<p>Bonjour&nbsp;Paul,</p><table><tr><td>Total</td><td>39,99&nbsp;€</td></tr></table>"
        "<p>A &lt; B</p></body></html>"
    )
    assert reading.text == "Bonjour Paul,\n\nTotal 39,99 €\n\nA < B"


def test_a_head_left_open_ends_at_the_body() -> None:
    assert read_html("<html><head><meta charset=utf-8><body><p>Texte</p>").text == "Texte"


def test_cids_and_anchors() -> None:
    reading = read_html(
        '<img src="cid:Logo%40Acme.fr"><td background="CID:bg@x">'
        '<a href="https://x.fr/f?a=1&amp;b=2"><img alt="Télécharger"> la facture</a>'
        "<a href='https://x.fr/other'>Nos offres"
    )
    assert reading.cids == frozenset({"logo@acme.fr", "bg@x"})
    assert reading.anchors == (
        ("https://x.fr/f?a=1&b=2", "Télécharger la facture"),
        ("https://x.fr/other", "Nos offres"),
    )


def test_invoice_links_in_plain_text() -> None:
    text = (
        "Votre facture est disponible : https://portail.fr/doc/123.\n"
        "Suivez-nous sur https://social.example/acme\n"
        "Se désabonner : https://portail.fr/unsubscribe?facture=1\n"
    )
    assert invoice_links(text, ()) == ("https://portail.fr/doc/123",)


@pytest.mark.parametrize(
    "body",
    [
        "<a " * 200_000,
        "</" * 300_000,
        "<!" * 300_000,
        "<?" * 300_000,
        "<!--" * 150_000,
        '<a href="x' * 100_000,
        "<a " + 'b="' * 200_000 + ">",
        "<b>" * 200_000,
    ],
)
def test_hostile_markup_is_read_in_linear_time(body: str) -> None:
    # CPU time, not wall time: on a busy machine the wall clock measures the neighbours.
    started = time.process_time()
    read_html(body)
    assert time.process_time() - started < 1


def test_invoice_link_on_the_line_below_its_label() -> None:
    text = "Téléchargez votre reçu :\nhttps://portail.fr/r/9\n\nAide : https://portail.fr/aide"
    assert invoice_links(text, ()) == ("https://portail.fr/r/9",)
