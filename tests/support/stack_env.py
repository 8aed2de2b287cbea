"""Placeholder values for the ${VAR}s of configs/stacks/*.yaml (.env.example lists the same names),
and small stack files for the tests of stacks/.

They only have to be well-formed (an ECR URI without a slash, a bucket name): nothing here
reaches a cloud, and the service connector is registered without verification.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.paths import PROJECT_ROOT

STACKS = PROJECT_ROOT / "configs" / "stacks"
NO_ENV_FILE = PROJECT_ROOT / "tests" / "no-such.env"  # a developer's own .env must not leak in
# A remote stack file with ${VAR}s in its configuration.
REMOTE = (
    "name: remote\ncomponents:\n"
    "  orchestrator: {name: k8s, flavor: kubernetes, configuration: {kubernetes_context: '${CONTEXT}'}}\n"
    "  artifact_store: {name: s3, flavor: s3, configuration: {path: 's3://${BUCKET}/zenml/${BUCKET}'}}\n"
)

PLACEHOLDER_VALUES = {
    "PROD_KUBE_CONTEXT": "test-context",
    "PROD_S3_BUCKET": "test-prod-bucket",
    "PROD_REGISTRY_URI": "registry.test/tabular-ml",
    "PROD_SELDON_INGRESS_URL": "http://prod-ingress.test",
    "PROD_MLFLOW_TRACKING_URI": "https://prod-mlflow.test",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCOUNT_ID": "123456789012",
    "AWS_STACK_ROLE_ARN": "arn:aws:iam::123456789012:role/test-zenml",
    "AWS_ACCESS_KEY_ID": "AKIATESTTESTTESTTEST",
    "AWS_SECRET_ACCESS_KEY": "test-secret-access-key",
    "AWS_EKS_CLUSTER": "test-cluster",
    "AWS_S3_BUCKET": "test-aws-bucket",
    "AWS_CODEBUILD_PROJECT": "test-builds",
    "AWS_SELDON_INGRESS_URL": "http://aws-ingress.test",
    "AWS_MLFLOW_TRACKING_URI": "https://aws-mlflow.test",
}

# The secrets the remote stack files reference, with dummy values (registration resolves them).
STACK_SECRETS = {
    "mlflow_credentials": {"username": "u", "password": "p"},
    "s3_credentials": {"aws_access_key_id": "a", "aws_secret_access_key": "b"},
}


def isolated_zenml_env(tmp_path, **extra: str) -> dict[str, str]:
    """This process's environment with a ZenML store of its own under ``tmp_path`` and the placeholders."""
    (tmp_path / "repo").mkdir(exist_ok=True)
    return {
        **os.environ,
        **PLACEHOLDER_VALUES,
        "ZENML_CONFIG_PATH": str(tmp_path / "config"),
        "ZENML_REPOSITORY_PATH": str(tmp_path / "repo"),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "ZENML_ENABLE_RICH_TRACEBACK": "false",
        "ZENML_LOGGING_COLORS_DISABLED": "true",
        **extra,
    }


def write_stack_file(folder: Path, text: str) -> Path:
    """``text`` as ``folder``/remote.yaml."""
    path = folder / "remote.yaml"
    path.write_text(text, encoding="utf-8")
    return path
