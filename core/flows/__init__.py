"""Conversations as flows: one class per conversation, one method per step (flow.py),
typed results the interfaces render (steps.py), kept in the database with the step's
effects (manager.py). The bot only turns updates into inputs and results into messages.
"""
