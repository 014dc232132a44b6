"""Courier's core: the domain, its services and the plugins' interfaces.

core/ knows no transport: it never imports aiogram, aiosmtpd or imap-tools, nor the
bot/, mail/ and scheduler/ packages that call into it.
"""
