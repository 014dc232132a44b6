"""A woob module for the Demo Supplier, written for Courier's tests (not one of woob's)."""

from __future__ import annotations

from .module import CourierDemoModule

__all__ = ["CourierDemoModule"]
