"""Deterministic seeding of the simulated Centra: a default topology and a generated catalog.

The default topology gives a freshly started simulator something real to answer (``warehouses``, ``markets``):
one DTC store, two warehouses (stock pools), one allocation rule per region and three markets. The catalog
generator creates N products x V variants x S sizes with valid EAN-13 codes, reproducibly from the state's
seed.
"""

from __future__ import annotations

from lockstep.sim.centra.model import Size
from lockstep.sim.centra.state import CentraState

SIZE_NAMES = ("XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL")
COLOURS = ("Black", "White", "Navy", "Sand", "Olive", "Rust", "Grey", "Cream", "Blue", "Green")
GARMENTS = ("Jacket", "Shirt", "Trousers", "Knit", "Coat", "Tee", "Dress", "Skirt", "Hoodie", "Scarf")


def ean13(body12: str) -> str:
    """Append the EAN-13 check digit to 12 digits."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def seed_default_topology(state: CentraState) -> None:
    """One DTC store, warehouses "EU Main" and "US East", rules "EU" (EU Main, US East) and "US" (US East)."""
    store = state.add_store("Retail Store")
    eu = state.add_warehouse("EU Main")
    us = state.add_warehouse("US East")
    rule_eu = state.add_allocation_rule("EU", [eu.id, us.id])
    rule_us = state.add_allocation_rule("US", [us.id])
    state.add_market("Europe", store.id, rule_eu.id, ["DE", "FR", "NL", "FI", "DK", "AT", "BE", "IT", "ES"], "EUR")
    state.add_market("Sweden", store.id, rule_eu.id, ["SE"], "SEK")
    state.add_market("United States", store.id, rule_us.id, ["US"], "USD")


def seed_catalog(state: CentraState, products: int, variants: int = 2, sizes: int = 4, prefix: str = "P") -> list[Size]:
    """Create ``products`` x ``variants`` x ``sizes`` sizes; returns the new sizes in creation order."""
    if not (products >= 0 and 1 <= variants <= len(COLOURS) and 1 <= sizes <= len(SIZE_NAMES)):
        raise ValueError(f"variants must be 1..{len(COLOURS)} and sizes 1..{len(SIZE_NAMES)}")
    rng = state.rng
    created: list[Size] = []
    start = len(state.products)
    for p in range(start, start + products):
        garment = GARMENTS[p % len(GARMENTS)]
        product = state.add_product(f"{prefix}{p + 1:05d}", f"{garment} {p + 1}", harmonized_code="620193")
        colours = rng.sample(COLOURS, variants)
        for v, colour in enumerate(colours):
            price = float(rng.choice((29, 49, 79, 99, 149, 199, 249)))
            variant = state.add_variant(
                product, f"V{v + 1:02d}", f"{garment} {colour}", price=price, unit_cost=round(price * 0.35, 2)
            )
            for s in range(sizes):
                ean = ean13(f"73{rng.randrange(10**10):010d}")
                while ean in state.ean_index:
                    ean = ean13(f"73{rng.randrange(10**10):010d}")
                created.append(state.add_size(variant, SIZE_NAMES[s], f"{s + 1:02d}", ean))
    return created
