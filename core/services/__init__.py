"""Core services, one module per subject.

Every function takes keyword-only arguments, receives the session from its caller and
only flushes: the entry point that opened the transaction commits it.
"""
