"""Background work: how workers learn that work waits for them."""
