"""Tools run from the project folder as ``python -m scripts.<name>`` (not benchmarks: bench/)."""
