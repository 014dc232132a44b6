"""The mail gateway: SMTP in, IMAP mailboxes polled, codes relayed from email (issue #3)."""
