"""A new table: drafting a training configuration from it, and checking a configuration against it."""
