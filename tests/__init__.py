"""Courier's tests: unit (no I/O), integration (real databases and servers), e2e."""
