"""Deterministic demo catalog: N products x variants x sizes as Deposco items with EAN barcodes."""

from __future__ import annotations

from typing import Any

SIZES = ("XS", "S", "M", "L", "XL", "XXL")
COLORS = ("Black", "White", "Navy", "Olive", "Sand", "Red", "Grey", "Blue")


def ean13(body12: str) -> str:
    """Append the EAN-13 check digit to 12 digits."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def catalog_items(
    business_unit: str, products: int, variants: int, sizes: int, prefix: str = "SKU", first_ean: int = 0
) -> list[dict[str, Any]]:
    """Item payloads for ``POST /items``; SKU ``<prefix>-<product>-<COLOR>-<size>``, EAN from a counter."""
    rows = []
    n = first_ean
    for p in range(1, products + 1):
        for v in range(variants):
            color = COLORS[v % len(COLORS)]
            for s in range(sizes):
                size = SIZES[s % len(SIZES)] if s < len(SIZES) else f"S{s}"
                n += 1
                rows.append(
                    {
                        "number": f"{prefix}-{p:04d}-{color[:3].upper()}-{size}",
                        "businessUnit": {"businessKey": {"code": business_unit}},
                        "name": f"Product {p} {color} {size}",
                        "shortDescription": f"P{p} {color} {size}",
                        "brandName": "Lockstep Demo",
                        "styleNumber": f"{prefix}-{p:04d}",
                        "colorName": color,
                        "size": size,
                        "unitPrice": 25 + p % 50,
                        "shippable": True,
                        "inventoryTrackingEnabled": True,
                        "salesEnabledFlag": True,
                        "packs": [
                            {
                                "type": "Each",
                                "quantity": 1,
                                "newPackFlag": False,
                                "weight": {"weight": 0.3, "units": "kg"},
                            }
                        ],
                        "upcs": {"data": [{"value": ean13(f"735{n:09d}")}]},
                    }
                )
    return rows
