"""Merchant connection runs against a scripted connector, on both databases."""
