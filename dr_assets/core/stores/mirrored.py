"""Fan-out of one byte stream to every destination; a failing one is dropped, not fatal."""

from __future__ import annotations

from dataclasses import dataclass, field

from dr_assets.core.errors import StoreError
from dr_assets.core.stores.base import ObjectWriter, Store


@dataclass
class _Leg:
    store: Store
    writer: ObjectWriter | None
    error: str | None = None


@dataclass
class MirroredWriter:
    """Writes the same bytes to every store; keeps going while at least one is healthy."""

    legs: list[_Leg] = field(default_factory=list)

    @classmethod
    def open(cls, stores: list[Store], key: str) -> MirroredWriter:
        legs = []
        for store in stores:
            try:
                legs.append(_Leg(store, store.open_writer(key)))
            except StoreError as exc:
                legs.append(_Leg(store, None, str(exc)))
        return cls(legs)

    @property
    def healthy(self) -> list[Store]:
        return [leg.store for leg in self.legs if leg.error is None]

    @property
    def errors(self) -> dict[str, str]:
        return {leg.store.name: leg.error for leg in self.legs if leg.error is not None}

    def _drop(self, leg: _Leg, exc: StoreError) -> None:
        leg.error = str(exc)
        if leg.writer is not None:
            leg.writer.abort()

    def write(self, data: bytes) -> None:
        for leg in self.legs:
            if leg.error is None and leg.writer is not None:
                try:
                    leg.writer.write(data)
                except StoreError as exc:
                    self._drop(leg, exc)

    def commit(self) -> None:
        for leg in self.legs:
            if leg.error is None and leg.writer is not None:
                try:
                    leg.writer.commit()
                except StoreError as exc:
                    self._drop(leg, exc)

    def abort(self) -> None:
        for leg in self.legs:
            if leg.writer is not None:
                leg.writer.abort()
