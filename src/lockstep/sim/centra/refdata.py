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
