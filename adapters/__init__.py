"""Where the domain code meets outside systems: MLflow tracking, ZenML model deployers, git, OpenTelemetry."""
