"""The scheduler: periodic jobs, each a thin call into core (issue #4)."""
