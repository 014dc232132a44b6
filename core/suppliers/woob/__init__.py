"""Community connectors: woob's document modules, run out of Courier's process.

woob (LGPL-3.0+) lives in a virtualenv of its own (`courier woob install`), so its pins
never touch Courier's; its modules are fetched there by woob's own updater and none is
copied into this repository. `bridge.py` runs with that virtualenv's python and speaks
JSON lines; `WoobConnector` drives it as any `SupplierConnector`.
"""
