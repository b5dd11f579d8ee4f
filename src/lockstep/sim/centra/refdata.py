"""Static reference data the simulated Centra needs: countries and currencies (ids are stable)."""

from __future__ import annotations

COUNTRIES: dict[str, tuple[int, str]] = {
    "SE": (6, "Sweden"),
    "DE": (7, "Germany"),
    "US": (2, "United States"),
    "GB": (8, "United Kingdom"),
    "NO": (9, "Norway"),
    "DK": (10, "Denmark"),
    "FI": (11, "Finland"),
    "FR": (12, "France"),
    "NL": (13, "Netherlands"),
    "AT": (14, "Austria"),
    "BE": (15, "Belgium"),
    "IT": (16, "Italy"),
    "ES": (17, "Spain"),
    "PL": (18, "Poland"),
    "CA": (19, "Canada"),
    "AU": (20, "Australia"),
}
CURRENCIES: dict[str, tuple[int, str]] = {
    "EUR": (1, "Euro"),
    "USD": (2, "US Dollar"),
    "SEK": (3, "Swedish Krona"),
    "GBP": (4, "Pound Sterling"),
    "DKK": (5, "Danish Krone"),
    "NOK": (6, "Norwegian Krone"),
}

# The store's shipping options (Centra: shippingPriceGroup.shippingOption), by uri: (id, name).
SHIPPING_OPTIONS: dict[str, tuple[int, str]] = {
    "standard": (1, "Standard delivery"),
    "express": (2, "Express delivery"),
    "pickup-point": (3, "Pickup point"),
}
DEFAULT_SHIPPING_OPTION = "standard"


def shipping_option_uri(ref: str) -> str | None:
    """The uri of the option ``ref`` names (its uri, or its name in any case); None when there is none."""
    if ref in SHIPPING_OPTIONS:
        return ref
    return next((uri for uri, (_id, name) in SHIPPING_OPTIONS.items() if name.casefold() == ref.casefold()), None)


def shipping_option(uri: str | None) -> dict[str, object] | None:
    """A Centra ``ShippingOption``."""
    if not uri or uri not in SHIPPING_OPTIONS:
        return None
    option_id, name = SHIPPING_OPTIONS[uri]
    return {"id": option_id, "name": name, "uri": uri}


def country(code: str | None) -> dict[str, object] | None:
    if not code:
        return None
    country_id, name = COUNTRIES.get(code.upper(), (999, code.upper()))
    return {"id": country_id, "name": name, "code": code.upper()}


def currency(code: str) -> dict[str, object]:
    currency_id, name = CURRENCIES.get(code.upper(), (999, code.upper()))
    return {"id": currency_id, "code": code.upper(), "name": name}


def money(value: float, code: str) -> dict[str, object]:
    """A Centra ``MonetaryValue``."""
    return {
        "value": round(float(value), 2),
        "currency": currency(code),
        "conversionRate": 1.0,
        "formattedValue": f"{value:.2f} {code.upper()}",
    }
