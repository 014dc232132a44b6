"""One module per accounting software, each implementing `AccountingProvider`."""
