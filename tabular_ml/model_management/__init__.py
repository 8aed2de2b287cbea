"""Model versions over time: the champion/challenger rule, decisions, the registries side by side."""
