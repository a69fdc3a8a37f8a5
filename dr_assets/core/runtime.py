"""Wires a loaded DRConfig to its keyring, stores and catalog, each built on first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from dr_assets.core.access.tickets import TicketKeys, load_ticket_keys
from dr_assets.core.catalog import Catalog
from dr_assets.core.format.keys import Keyring, load_keyring
from dr_assets.core.policy import DRConfig, load_config
from dr_assets.core.stores import open_stores
from dr_assets.core.stores.base import Store


@dataclass
class DRRuntime:
    config: DRConfig
    catalog_pool_size: int = 0
    _catalog: Catalog | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | None = None, catalog_pool_size: int = 0) -> DRRuntime:
        """catalog_pool_size > 0 keeps that many catalog connections open (servers)."""
        return cls(load_config(path), catalog_pool_size)

    @cached_property
    def keyring(self) -> Keyring:
        return load_keyring(self.config.encryption)

    @cached_property
    def ticket_keys(self) -> TicketKeys:
        """The keys that sign and check launch tickets ([launch_tickets], else the master keys)."""
        own = self.config.launch_tickets.key_file is not None
        return load_ticket_keys(self.config.launch_tickets, None if own else self.keyring)

    @cached_property
    def stores(self) -> list[Store]:
        return open_stores(self.config)

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self.config.catalog_url, self.catalog_pool_size)
        return self._catalog
