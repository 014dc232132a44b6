"""A local Telegram: the Bot API stand-in, simulated users that talk to a bot through it,
and `courier sandbox`, which runs the whole system behind a chat in the terminal."""
