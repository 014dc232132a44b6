"""Accounting software behind one interface: the provider Protocol, its values and failures,
the registry that builds providers from settings, and the providers themselves."""
