"""Registering the ZenML stacks described in configs/stacks/."""
