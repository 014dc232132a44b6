"""Which woob module serves which catalog entry, with the site choice it needs.

These are the catalog's `community` entries: `available` once woob is installed. The
module names are woob's; its modules are fetched by woob's updater, never shipped here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from core.catalog.entries import CatalogEntry


@dataclass(frozen=True, slots=True)
class WoobModule:
    name: str
    #: Config values the module needs besides the login and password (its site choice).
    params: dict[str, str] = field(default_factory=dict)


COMMUNITY: dict[str, WoobModule] = {
    "amazon": WoobModule("amazon", {"website": "www.amazon.fr"}),
    "amazon-de": WoobModule("amazon", {"website": "www.amazon.de"}),
    "amazon-uk": WoobModule("amazon", {"website": "www.amazon.co.uk"}),
    "amazon-us": WoobModule("amazon", {"website": "www.amazon.com"}),
    "edf": WoobModule("edf", {"website": "par"}),
    "edf-entreprises": WoobModule("edf", {"website": "pro"}),
    "orange": WoobModule("orange"),
    "free": WoobModule("free"),
    "free-mobile": WoobModule("freemobile"),
    "bouygues-telecom": WoobModule("bouygues"),
    "ekwateur": WoobModule("ekwateur"),
    "enercoop": WoobModule("enercoop"),
    "lampiris": WoobModule("lampiris"),
    "ameli": WoobModule("ameli"),
    "impots-gouv": WoobModule("impotsgouvfrpar"),
    "pajemploi": WoobModule("pajemploi"),
    "cesu": WoobModule("cesu"),
    "ldlc": WoobModule("ldlc"),
    "materiel-net": WoobModule("materielnet"),
    "trainline": WoobModule("trainline"),
    "blablacar": WoobModule("blablacar"),
    "lucca": WoobModule("lucca"),
}


def with_community(entries: Iterable[CatalogEntry], *, installed: bool) -> Iterator[CatalogEntry]:
    """The catalog as this machine can serve it: a `community` entry is available exactly
    when woob is installed (the packaged data says false, as a build without woob)."""
    for entry in entries:
        if entry.connector_kind == "community" and entry.key in COMMUNITY:
            yield replace(entry, connector_available=installed)
        else:
            yield entry
