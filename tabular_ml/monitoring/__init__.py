"""Watching a production model: data quality, drift, the alert verdict, simulated drift."""
