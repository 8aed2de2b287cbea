"""What the tests and the benchmarks (bench/) share: server processes, ports, models, tables, factories.

Importing it has no side effects: bench/ uses it outside pytest, without tests/conftest.py.
"""
