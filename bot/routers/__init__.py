"""One router per subject; bot/app.py includes them in a deliberate order."""
