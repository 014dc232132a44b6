"""Merchant connectors: the interface every supplier plugin implements, and the plugins."""
