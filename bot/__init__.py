"""The Telegram bot: turns updates into core calls and the outbox into messages (issue #5)."""
