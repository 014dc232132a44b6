"""What a QuickBooks company is set up for, read at connect and on each token refresh, and
kept with the link (in the sealed grant's `extra`, so no table changes).

- `CompanyInfo.Country`: a US company keeps no tax on its bills (QuickBooks' US sales tax
  is on sales only), every other one books the VAT, GST or HST of each line through a
  `TaxCodeRef`, which it requires on every line of a purchase.
- `Preferences.CurrencyPrefs`: `HomeCurrency`, and `MultiCurrencyEnabled`: without it
  a transaction can only be in the home currency.
- `Preferences.TaxPrefs.UsingSalesTax`: whether tax is set up at all (a company not
  registered for VAT books its costs gross, with no tax code).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Where the setup is kept in `Grant.extra`.
EXTRA_KEY = "company"


@dataclass(frozen=True, slots=True)
class CompanySetup:
    country: str
    home_currency: str
    multicurrency: bool
    tax_enabled: bool

    @property
    def books_tax(self) -> bool:
        """Each line carries its tax code and the tax is booked apart from the cost."""
        return self.country != "US" and self.tax_enabled

    def takes_currency(self, currency: str) -> bool:
        return self.multicurrency or currency.upper() == self.home_currency

    def to_json(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "home_currency": self.home_currency,
            "multicurrency": self.multicurrency,
            "tax_enabled": self.tax_enabled,
        }


def setup_of(extra: Mapping[str, Any]) -> CompanySetup | None:
    """The setup kept with a grant; None for a link made before it was kept."""
    data = extra.get(EXTRA_KEY)
    if not isinstance(data, Mapping) or not isinstance(data.get("home_currency"), str):
        return None
    return CompanySetup(
        country=str(data.get("country") or ""),
        home_currency=str(data["home_currency"]),
        multicurrency=data.get("multicurrency") is True,
        tax_enabled=data.get("tax_enabled") is not False,
    )


def setup_from(info: Mapping[str, Any], preferences: Mapping[str, Any]) -> CompanySetup:
    """From the `CompanyInfo` and `Preferences` entities as the API gives them."""
    currency = _mapping(preferences.get("CurrencyPrefs"))
    taxes = _mapping(preferences.get("TaxPrefs"))
    home = _mapping(currency.get("HomeCurrency")).get("value")
    country = str(info.get("Country") or "").strip().upper()
    return CompanySetup(
        # Older US companies say "USA"; QuickBooks' own checks treat both alike.
        country="US" if country == "USA" else country,
        home_currency=str(home or "").upper() or ("USD" if country in {"US", "USA"} else ""),
        multicurrency=currency.get("MultiCurrencyEnabled") is True,
        # A non-US company without the flag is taken to book tax: the API then says so
        # by refusing a line without a code, rather than Courier dropping the VAT.
        tax_enabled=taxes.get("UsingSalesTax") is not False,
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
