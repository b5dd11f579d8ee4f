"""Centra's events queue: per-integration subscriptions and queues of unconfirmed events.

Semantics reproduced (centra.md §10.1): the queue belongs to the token's *integration name*;
``setEventListeners``
is idempotent and adds to the subscription (no ``changeTypes`` = all of them); ``unsetEventListeners`` removes
change types and *purges the events already queued* for them; ``events`` returns the oldest unconfirmed events
first; an event stays in the queue, and is returned again, until ``confirmEvents``. Events carry a reference
to
the object, whose *current* state is resolved when read (``None`` once deleted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

CHANGE_TYPES = ("CREATED", "UPDATED", "COMPLETED", "DELETED", "DEPENDENT_DATA_CHANGED")


@dataclass
class Listener:
    object_type: str
    change_types: set[str]
    created_at: datetime
    updated_at: datetime


@dataclass
class Event:
    id: int
    object_type: str
    change_type: str
    object_reference: str  # the order *number* for orders, the id otherwise
    object_key: int  # order number / shipment id / product id ... used to resolve the current object
    created_at: datetime
    store_id: int | None = None
    market_id: int | None = None


@dataclass
class IntegrationQueue:
    name: str
    listeners: dict[str, Listener] = field(default_factory=dict)
    events: dict[int, Event] = field(default_factory=dict)  # insertion-ordered = oldest first

    def set_listener(self, object_type: str, change_types: list[str] | None, now: datetime) -> Listener:
        wanted = set(change_types) if change_types else set(CHANGE_TYPES)
        current = self.listeners.get(object_type)
        if current is None:
            current = self.listeners[object_type] = Listener(object_type, wanted, now, now)
        elif not wanted <= current.change_types:
            current.change_types |= wanted
            current.updated_at = now
        return current

    def unset_listener(self, object_type: str, change_types: list[str] | None, now: datetime) -> Listener | None:
        """Remove change types (all if none given); purge queued events of them. Returns the listener if
        kept."""
        current = self.listeners.get(object_type)
        removed = set(change_types) if change_types else set(CHANGE_TYPES)
        for event_id in [
            e.id for e in self.events.values() if e.object_type == object_type and e.change_type in removed
        ]:
            del self.events[event_id]
        if current is None:
            return None
        current.change_types -= removed
        current.updated_at = now
        if not current.change_types:
            del self.listeners[object_type]
            return None
        return current

    def wants(self, object_type: str, change_type: str) -> bool:
        listener = self.listeners.get(object_type)
        return listener is not None and change_type in listener.change_types

    def pending(
        self,
        object_types: list[str] | None,
        change_types: list[str] | None,
        store_id: int | None,
        market_id: int | None,
        limit: int,
    ) -> list[Event]:
        out: list[Event] = []
        for event in self.events.values():
            if object_types and event.object_type not in object_types:
                continue
            if change_types and event.change_type not in change_types:
                continue
            if store_id is not None and event.store_id != store_id:
                continue
            if market_id is not None and event.market_id != market_id:
                continue
            out.append(event)
            if len(out) >= limit:
                break
        return out

    def confirm(self, event_ids: list[int]) -> list[int]:
        """Drop confirmed events; returns the ids that were not in this queue."""
        unknown = [i for i in event_ids if i not in self.events]
        for event_id in event_ids:
            self.events.pop(event_id, None)
        return unknown
