"""The supplier catalog in the database, kept in step with the packaged data: the entries
(core/catalog/entries.json) and the mail domains their invoices come from
(core/catalog/mail_routes.json), which join the row's `domains` so that mail from them is
matched to the supplier and must be vouched for by them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.catalog.entries import CatalogEntry
from core.catalog.index import CatalogIndex
from core.catalog.mail_routes import MailRoute, packaged_mail_routes
from core.domains import DomainIndex
from core.models import Supplier


def to_entry(supplier: Supplier) -> CatalogEntry:
    return CatalogEntry(
        key=supplier.key,
        name=supplier.name,
        aliases=tuple(supplier.aliases),
        portal=supplier.portal,
        portal_url=supplier.portal_url,
        category=supplier.category,
        countries=tuple(supplier.countries),
        domains=tuple(supplier.domains),
        connector_kind=supplier.connector_kind,
        connector_available=supplier.connector_available,
        twofa=tuple(supplier.twofa),
    )


def row_domains(entry: CatalogEntry, route: MailRoute | None) -> list[str]:
    """The entry's domains, then the ones its invoices are mailed from, each once."""
    return list(dict.fromkeys((*entry.domains, *(route.domains if route else ()))))


async def sync_catalog(
    *,
    session: AsyncSession,
    entries: Iterable[CatalogEntry],
    routes: Mapping[str, MailRoute] | None = None,
) -> int:
    """Upsert the packaged entries by key; rows no longer packaged stay but are unlisted,
    since connections and documents may still point at them. `routes` defaults to the
    packaged mail routes."""
    routes = packaged_mail_routes() if routes is None else routes
    rows = {s.key: s for s in (await session.exec(select(Supplier))).all()}
    seen: set[str] = set()
    for entry in entries:
        seen.add(entry.key)
        row = rows.get(entry.key) or Supplier(
            key=entry.key, name=entry.name, portal_url=entry.portal_url
        )
        row.name = entry.name
        row.aliases = list(entry.aliases)
        row.portal = entry.portal
        row.portal_url = entry.portal_url
        row.category = entry.category
        row.countries = list(entry.countries)
        row.domains = row_domains(entry, routes.get(entry.key))
        row.connector_kind = entry.connector_kind
        row.connector_available = entry.connector_available
        row.twofa = list(entry.twofa)
        row.listed = True
        session.add(row)
    for key, row in rows.items():
        if key not in seen and row.listed:
            row.listed = False
            session.add(row)
    await session.flush()
    return len(seen)


@dataclass(frozen=True, slots=True)
class SupplierHit:
    supplier: Supplier
    score: float


class SupplierSearch:
    """The in-memory index over the listed suppliers, built once per process."""

    def __init__(self, suppliers: Iterable[Supplier]) -> None:
        self._by_key = {s.key: s for s in suppliers}
        self._index = CatalogIndex(to_entry(s) for s in self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def search(self, query: str, *, limit: int = 10) -> list[SupplierHit]:
        return [
            SupplierHit(self._by_key[m.entry.key], m.score)
            for m in self._index.search(query, limit=limit)
        ]


async def load_search(*, session: AsyncSession) -> SupplierSearch:
    query = select(Supplier).where(col(Supplier.listed).is_(True))
    return SupplierSearch((await session.exec(query)).all())


async def load_domain_index(*, session: AsyncSession) -> DomainIndex:
    rows = (await session.exec(select(Supplier).where(col(Supplier.listed).is_(True)))).all()
    return DomainIndex((s.id, s.domains) for s in rows if s.id is not None)
