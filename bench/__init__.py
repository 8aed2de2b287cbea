"""Benchmarks, run from the project folder as ``python -m bench.<name>`` (``make bench-*``)."""
