"""Data in and out: sources, cleaning, the data contract, the holdout split, sinks."""
