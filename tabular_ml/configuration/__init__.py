"""Typed configuration of the pipelines: the schema, loading YAML with overrides, redaction."""
