"""The item master rule (DESIGN §3.1): every Centra size is a Deposco item, and what "in step" means for one.

Pure functions, so the sync flow only fetches, asks these and writes down the answers:

- :func:`desired_item`: the Deposco item a Centra size should be, numbered by the brand's SKU key (full SKU or
  EAN), the EAN as its UPC.
- :func:`apply_changes`: that item as Deposco will hold it after the connector fitted it into Deposco's columns
  (a name cut at 150 characters). Comparing against the *fitted* item is what keeps a long name from looking
  different on every sync, which would spend the Deposco budget re-sending it forever.
- :func:`differences`: the fields where Deposco disagrees with what Centra says. A field Centra leaves empty is
  not compared: the upsert does not send empty values, so Deposco keeps its own, and calling that a difference
  would again re-send the item on every sync.
- :func:`decide`: create, update, leave alone, skip or refuse (a UPC held by another item) for one size.
- :func:`classify`: the coverage class of one item key (Centra only, Deposco only, both, both with differences).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Literal

from lockstep.domain.model import Change, Item, ProductSize

SkuKey = Literal["sku", "ean"]

# The attributes of an Item that the item master keeps in step, in the order they are reported.
COMPARED: tuple[str, ...] = (
    "description",
    "upc",
    "style",
    "colour",
    "size",
    "weight_kg",
    "country_of_origin",
    "hs_code",
    "active",
)
_TEXT_FIELDS = frozenset({"description", "upc", "style", "colour", "size", "hs_code"})
_WEIGHT_STEP = Decimal("0.001")  # grams: Deposco may hand a weight back as a float


class Action(StrEnum):
    CREATE = "create"  # active in Centra, not in Deposco
    UPDATE = "update"  # in Deposco, but not as Centra says (or changed in Centra since the last sync)
    UNCHANGED = "unchanged"  # Deposco already holds what Centra says: nothing to send
    SKIP = "skip"  # inactive in Centra and not in Deposco: an item nobody can order is not created
    CONFLICT = "conflict"  # its UPC belongs to another Deposco item: sending it would only be refused


class Coverage(StrEnum):
    CENTRA_ONLY = "centra_only"
    DEPOSCO_ONLY = "deposco_only"
    BOTH = "both"
    BOTH_DIFFERENT = "both_different"


def item_key(size: ProductSize, sku_key: SkuKey) -> str:
    """The Deposco item number of a size: its full SKU or its EAN, as the brand is configured ('' if it has none)."""
    return (size.sku if sku_key == "sku" else size.ean).strip()


def desired_item(size: ProductSize, sku_key: SkuKey) -> Item:
    """The Deposco item a Centra size should be.

    The product is the style, the variant the colour (fashion variants are colourways), the size its size. The
    description names all three, so a picker reading only the item name still grabs the right box.
    """
    description = " - ".join(part.strip() for part in (size.product_name, size.variant_name, size.size) if part.strip())
    return Item(
        number=item_key(size, sku_key),
        description=description,
        upc=size.ean.strip(),
        style=size.product_number.strip(),
        colour=size.variant_name.strip(),
        size=size.size.strip(),
        weight_kg=size.weight_kg if size.weight_kg is not None and size.weight_kg > 0 else None,
        country_of_origin=size.country_of_origin.strip().upper(),
        hs_code=size.hs_code.strip(),
        active=size.is_active,
    )


def apply_changes(item: Item, changes: Iterable[Change]) -> Item:
    """``item`` with each of the translation's changes applied (``Change.field`` is ``item.<attribute>``).

    Changes to attributes the item does not have (the brand name) are ignored: they are not compared.
    """
    updates = {}
    for change in changes:
        prefix, _, attribute = change.field.partition(".")
        if prefix == "item" and attribute in _TEXT_FIELDS:
            updates[attribute] = change.after
    return replace(item, **updates) if updates else item


def _normal(field: str, value: object) -> str:
    """One comparable spelling per value: trimmed text, upper-case country, weight to the gram, bool as text."""
    if value is None:
        return ""
    if field == "weight_kg":
        try:
            return str(Decimal(str(value)).quantize(_WEIGHT_STEP).normalize())
        except InvalidOperation:
            return str(value)
    if field == "active":
        return "true" if value else "false"
    text = str(value).strip()
    return text.upper() if field == "country_of_origin" else text


def differences(desired: Item, actual: Item) -> dict[str, list[str]]:
    """Field -> [what Centra says, what Deposco has], for every field Centra states and Deposco disagrees on."""
    found: dict[str, list[str]] = {}
    for field in COMPARED:
        want = _normal(field, getattr(desired, field))
        if want == "":
            continue  # Centra says nothing: the upsert leaves Deposco's value alone
        have = _normal(field, getattr(actual, field))
        if want != have:
            found[field] = [want, have]
    return found


def decide(
    desired: Item,
    *,
    exists: bool,
    diffs: Mapping[str, list[str]] | None,
    upc_owner: str | None = None,
) -> Action:
    """What to do with one size.

    ``exists``: Deposco has an item with this number. ``diffs``: its differences from ``desired``, or ``None``
    when Deposco was not read (an incremental sync of a size that changed in Centra: it is sent). ``upc_owner``:
    the Deposco item that holds the size's UPC, if known.
    """
    if not exists and not desired.active:
        return Action.SKIP
    if upc_owner and upc_owner != desired.number:
        return Action.CONFLICT
    if not exists:
        return Action.CREATE
    if diffs is None or diffs:
        return Action.UPDATE
    return Action.UNCHANGED


def classify(*, in_centra: bool, in_deposco: bool, diffs: Mapping[str, object] | None = None) -> Coverage:
    """The coverage class of an item key that at least one system knows."""
    if not in_centra and not in_deposco:
        raise ValueError("an item key known to neither system has no coverage class")
    if not in_deposco:
        return Coverage.CENTRA_ONLY
    if not in_centra:
        return Coverage.DEPOSCO_ONLY
    return Coverage.BOTH_DIFFERENT if diffs else Coverage.BOTH


def upc_owners(items: Iterable[Item]) -> dict[str, str]:
    """UPC -> number of the Deposco item that carries it (Deposco allows one item per UPC)."""
    return {item.upc.strip(): item.number for item in items if item.upc.strip()}


def merged(actual: Item | None, desired: Item) -> Item:
    """What Deposco holds after upserting ``desired`` over ``actual``: every stated value replaces the old one.

    The model of an upsert the sync relies on (empty values are not sent, so they keep what was there); the
    property tests check that :func:`differences` finds nothing after it.
    """
    if actual is None:
        return desired
    updates = {f: getattr(desired, f) for f in COMPARED if _normal(f, getattr(desired, f)) != ""}
    return replace(actual, **updates)
