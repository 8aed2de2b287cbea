"""The SeldonDeployment that runs the serving image on Kubernetes (no ZenML, no kubernetes client here).

Two renderings of the same pod:

- :func:`render_seldon_deployment`: a complete ``machinelearning.seldon.io/v1``
  ``SeldonDeployment`` to ``kubectl apply`` (``python -m adapters.seldon_deployment ... > sdep.yaml``);
- :func:`pod_spec_for_zenml` + :func:`zenml_deployment_config`: the pod spec and the
  keyword arguments of ZenML's ``SeldonDeploymentConfig(is_custom_deployment=True, ...)``,
  which ZenML's Seldon model deployer turns into a ``SeldonDeployment`` whose only
  graph node is named ``classifier`` (hard-coded in ``SeldonDeployment.build``) and
  whose ``componentSpecs`` is ``[{"spec": <our pod spec>}]``.

How the bundle reaches ``/mnt/models``: the Seldon Core v1 operator injects its
storage initializer only for prepackaged servers (``implementation: SKLEARN_SERVER``
...) and explainers, never for a custom container, and ZenML's custom path drops
``modelUri`` from the graph anyway. So the pod declares the init container itself
(Seldon's rclone storage initializer, as ZenML's own custom deployments do): it
copies ``model_uri`` (the bundle *directory*: ``model.joblib`` + ``bundle.json``)
into an ``emptyDir`` that the model container mounts read-only at ``/mnt/models``.
The graph still carries ``modelUri`` (and ``envSecretRefName``) so the source is
visible in the resource; credentials for the download come from ``secret_name``, a
Kubernetes secret with rclone variables (``RCLONE_CONFIG_S3_*``), which is what
ZenML's Seldon deployer creates from the artifact store's credentials.

The request log (``serving/request_log.py``): the container gets
``SERVING_REQUEST_LOG_DIR`` pointing at :data:`REQUEST_LOG_MOUNT`, a volume of its own.
By default that volume is an ``emptyDir``: the files live as long as the pod, which is
enough to try it and for a sidecar or job that ships them, not for keeping them; pass a
PersistentVolumeClaim (``request_log_claim``, ReadWriteMany when replicas share it: file
names are unique per process) or turn the log off (``request_log=False``).

The container runs the image's own entry point (``python -m serving``: the ASGI server of
:mod:`serving.server` on uvicorn), so the pod spec sets no ``command`` or ``args``. Its
settings come from the environment (:class:`serving.settings.ServingSettings`): the manifest
sets ``MODEL_DIR`` and ``SERVING_WORKERS`` (server processes on the same port; each loads the
model) and passes ``env`` through for the other ``SERVING_*`` variables.

Ports: the container declares ``http`` 9000 and ``metrics`` 6000 (the operator's defaults
for the first container), and no gRPC port: the server speaks HTTP only. The operator passes
them to the server as ``PREDICTIVE_UNIT_HTTP_SERVICE_PORT`` and
``PREDICTIVE_UNIT_METRICS_SERVICE_PORT``, which the server reads (it has no port flags on
purpose). The resource's protocol stays ``seldon``: Seldon's executor in front of the
container speaks Seldon v1 REST to it (``/api/v1.0/predictions``); the server also answers
the Open Inference Protocol v2 (``/v2/...``) on the same port, and Prometheus scrapes
``/prometheus`` on the metrics port.

Probes: readiness on ``/health/status`` (the server answers only once the bundle is loaded:
no traffic before that), liveness on ``/v2/health/live`` (a server that stops answering is
restarted).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_RESOURCES",
    "DEFAULT_STORAGE_INITIALIZER",
    "GRAPH_NODE",
    "HTTP_PORT",
    "METRICS_PORT",
    "MODEL_MOUNT",
    "REQUEST_LOG_MOUNT",
    "SELDON_API_VERSION",
    "SELDON_KIND",
    "SERVING_UID",
    "pod_spec_for_zenml",
    "render_seldon_deployment",
    "served_bundle_uri",
    "serving_image",
    "to_yaml",
    "zenml_deployment_config",
]

SELDON_API_VERSION = "machinelearning.seldon.io/v1"
SELDON_KIND = "SeldonDeployment"
SHADOW_PREDICTOR = "shadow"
# ZenML's SeldonDeployment.build names the (only) graph node "classifier" for custom
# deployments; Seldon matches graph nodes to containers by name, so ours is the same.
GRAPH_NODE = "classifier"
MODEL_MOUNT = "/mnt/models"
REQUEST_LOG_MOUNT = "/mnt/request-log"
REQUEST_LOG_VOLUME = "request-log"
HTTP_PORT = 9000
METRICS_PORT = 6000
PRE_STOP_S = 5  # seconds between leaving the endpoints and SIGTERM
SERVING_UID = 1000  # the image's non-root user (Dockerfile: USER 1000:1000)
PROVISION_VOLUME = f"{GRAPH_NODE}-provision-location"
# Match it to the cluster's Seldon Core operator (helm value storageInitializer.image).
DEFAULT_STORAGE_INITIALIZER = "seldonio/rclone-storage-initializer:1.17.1"
DEFAULT_RESOURCES: dict[str, dict[str, str]] = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}
_INITIALIZER_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "100Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


def _check_dns_label(what: str, value: str) -> str:
    if not isinstance(value, str) or len(value) > 63 or not _DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} is not a valid Kubernetes name: at most 63 lower-case letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    return value


def _label_value(what: str, value: Any) -> str:
    text = str(value)
    if len(text) > 63 or not text or not _LABEL_VALUE.fullmatch(text):
        raise ValueError(
            f"{what} {text!r} cannot be a Kubernetes label value: 1 to 63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return text


def _positive_int(what: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def _resources(resources: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, str]]:
    if resources is None:
        return copy.deepcopy(DEFAULT_RESOURCES)
    unknown = sorted(set(resources) - {"requests", "limits"})
    if unknown:
        raise ValueError(f"resources: unknown key(s) {unknown}; expected 'requests' and/or 'limits'")
    out: dict[str, dict[str, str]] = {}
    for kind in ("requests", "limits"):
        if kind in resources and resources[kind]:
            out[kind] = {str(name): str(quantity) for name, quantity in resources[kind].items()}
    return out


def _http_probe(path: str, initial_delay: int, period: int, failures: int = 3) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": HTTP_PORT, "scheme": "HTTP"},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "successThreshold": 1,
        "failureThreshold": failures,
    }


def pod_spec_for_zenml(
    image: str,
    model_uri: str,
    model_version: str | int,
    *,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
    workers: int = 1,
    secret_name: str | None = None,
    image_pull_secret: str | None = None,
    storage_initializer_image: str = DEFAULT_STORAGE_INITIALIZER,
    image_pull_policy: str = "IfNotPresent",
    request_log: bool = True,
    request_log_claim: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Kubernetes ``PodSpec`` (JSON field names) of one serving pod.

    It is the ``componentSpecs[0].spec`` of :func:`render_seldon_deployment` and the
    ``spec`` of ZenML's ``SeldonDeploymentConfig`` for a custom deployment.

    Args:
        image: The serving image (``registry/name:tag`` of this project's Dockerfile).
        model_uri: Artifact-store URI of the bundle directory (``s3://.../bundle``).
        model_version: The model version served (an env var and, in the full
            resource, a label).
        resources: ``{"requests": {...}, "limits": {...}}`` of the model container;
            :data:`DEFAULT_RESOURCES` when None.
        workers: Server processes on the pod's port (``SERVING_WORKERS``); each loads the model.
        secret_name: Kubernetes secret with the rclone credentials of the artifact
            store, given to the storage initializer as environment.
        image_pull_secret: Secret to pull a private image with.
        storage_initializer_image: The init container that downloads the bundle.
        image_pull_policy: For the serving image.
        request_log: Log answered rows to :data:`REQUEST_LOG_MOUNT` (``SERVING_REQUEST_LOG_DIR``).
        request_log_claim: A PersistentVolumeClaim to mount there; None: an ``emptyDir``
            (the files go with the pod).
        env: More environment variables of the model container: the serving settings
            (:class:`serving.settings.ServingSettings`), e.g. ``SERVING_MAX_BODY_BYTES`` and
            ``SERVING_CONTRACT_VIOLATIONS``.

    Raises:
        ValueError: For an empty image or URI, a version that cannot be a label value,
            or a non-positive worker count.
    """
    if not image or not isinstance(image, str):
        raise ValueError("image must be a non-empty image reference such as registry/tabular-serving:1.0")
    if not model_uri or not isinstance(model_uri, str):
        raise ValueError("model_uri must be the non-empty URI of the model bundle directory")
    version = _label_value("model_version", model_version)
    workers = _positive_int("workers", workers)

    initializer: dict[str, Any] = {
        "name": f"{GRAPH_NODE}-model-initializer",
        "image": storage_initializer_image,
        "imagePullPolicy": "IfNotPresent",
        "args": [model_uri, MODEL_MOUNT],
        "volumeMounts": [{"name": PROVISION_VOLUME, "mountPath": MODEL_MOUNT}],
        "resources": copy.deepcopy(_INITIALIZER_RESOURCES),
    }
    if secret_name:
        initializer["envFrom"] = [{"secretRef": {"name": secret_name, "optional": False}}]

    container: dict[str, Any] = {
        "name": GRAPH_NODE,
        "image": image,
        "imagePullPolicy": image_pull_policy,
        "env": [
            {"name": "MODEL_DIR", "value": MODEL_MOUNT},
            {"name": "MODEL_VERSION", "value": version},
            {"name": "SERVING_WORKERS", "value": str(workers)},
        ],
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "resources": _resources(resources),
        # The server listens only once the bundle is loaded: liveness waits for the start (up to 10 min)
        "startupProbe": _http_probe("/health/status", initial_delay=2, period=5, failures=120),
        "readinessProbe": _http_probe("/health/status", initial_delay=5, period=5),
        "livenessProbe": _http_probe("/v2/health/live", initial_delay=30, period=10),
        # A stopping pod leaves the Service's endpoints first; SIGTERM comes once traffic has moved
        # (uvicorn's workers close idle connections at once on SIGTERM, see serving/server.py).
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_S)]}}},
        "volumeMounts": [{"name": PROVISION_VOLUME, "mountPath": MODEL_MOUNT, "readOnly": True}],
        # Container level: the operator replaces the pod-level securityContext with its own.
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SERVING_UID,
            "runAsGroup": SERVING_UID,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    spec: dict[str, Any] = {
        "initContainers": [initializer],
        "containers": [container],
        "volumes": [{"name": PROVISION_VOLUME, "emptyDir": {}}],
    }
    if request_log:
        container["env"].append({"name": "SERVING_REQUEST_LOG_DIR", "value": REQUEST_LOG_MOUNT})
        container["volumeMounts"].append({"name": REQUEST_LOG_VOLUME, "mountPath": REQUEST_LOG_MOUNT})
        if request_log_claim:
            _check_dns_label("request_log_claim", request_log_claim)
            source: dict[str, Any] = {"persistentVolumeClaim": {"claimName": request_log_claim}}
        else:
            source = {"emptyDir": {}}
        spec["volumes"].append({"name": REQUEST_LOG_VOLUME, **source})
    reserved = {variable["name"] for variable in container["env"]}
    taken = sorted(reserved & set(env or {}))
    if taken:
        raise ValueError(f"env must not set {taken}: the manifest sets them from its own arguments")
    container["env"] += [{"name": str(key), "value": str(value)} for key, value in (env or {}).items()]
    if image_pull_secret:
        spec["imagePullSecrets"] = [{"name": image_pull_secret}]
    return spec


def render_seldon_deployment(
    name: str,
    image: str,
    model_uri: str,
    model_version: str | int,
    replicas: int = 1,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
    namespace: str | None = None,
    workers: int = 1,
    *,
    predictor: str = "default",
    secret_name: str | None = None,
    image_pull_secret: str | None = None,
    storage_initializer_image: str = DEFAULT_STORAGE_INITIALIZER,
    request_log: bool = True,
    request_log_claim: str | None = None,
    env: Mapping[str, str] | None = None,
    shadow_model_uri: str | None = None,
    shadow_version: str | int | None = None,
) -> dict[str, Any]:
    """A ``SeldonDeployment`` (``machinelearning.seldon.io/v1``) serving one model bundle.

    With ``shadow_model_uri`` the resource gets a second predictor, ``shadow`` (``shadow: true``:
    Seldon mirrors every request to it and discards its answers), serving that bundle in the
    same image with a request log of its own: its rows carry the shadow's version, and a
    client's ``meta.puid`` (the logged ``request_id``) pairs them with production's. (The
    deployment pipeline's in-process shadow, a bundle with a ``shadow/`` folder, needs
    neither: one pod logs both predictions on one row.)

    Args:
        name: The resource name (a DNS label); Seldon serves it under
            ``/seldon/<namespace>/<name>/api/v1.0/predictions``.
        image: The serving image.
        model_uri: Artifact-store URI of the bundle directory.
        model_version: The served version: label ``model-version`` on the resource,
            label ``version`` on the predictor (Seldon's Istio subset label).
        replicas: Pods of the predictor (0 scales it down).
        resources: Requests/limits of the model container (see :func:`pod_spec_for_zenml`).
        namespace: ``metadata.namespace``; omitted when None (kubectl's namespace applies).
        workers: Server processes per pod (``SERVING_WORKERS``).
        predictor: The predictor name.
        secret_name: Kubernetes secret with the artifact store's rclone credentials.
        image_pull_secret: Secret to pull a private image with.
        storage_initializer_image: The init container that downloads the bundle.
        request_log: Log answered rows (see :func:`pod_spec_for_zenml`).
        request_log_claim: PersistentVolumeClaim for the log; None: an ``emptyDir``.
        env: More environment variables of the model container (see :func:`pod_spec_for_zenml`).
        shadow_model_uri: A challenger's bundle to run as a shadow predictor; None: none.
        shadow_version: The challenger's version (required with ``shadow_model_uri``).

    Returns:
        The resource as a JSON-compatible dict.

    Raises:
        ValueError: For an invalid name, namespace, predictor, version, replica or
            worker count, or resources.
    """
    _check_dns_label("name", name)
    _check_dns_label("predictor", predictor)
    if namespace is not None:
        _check_dns_label("namespace", namespace)
    replicas = _positive_int("replicas", replicas, minimum=0)

    def pod_spec(uri: str, version: str) -> dict:
        return pod_spec_for_zenml(
            image,
            uri,
            version,
            resources=resources,
            workers=workers,
            secret_name=secret_name,
            image_pull_secret=image_pull_secret,
            storage_initializer_image=storage_initializer_image,
            request_log=request_log,
            request_log_claim=request_log_claim,
            env=env,
        )

    served_spec = pod_spec(model_uri, model_version)
    predictors = [_predictor(predictor, replicas, model_uri, model_version, served_spec, secret_name)]
    if shadow_model_uri is not None:
        if shadow_version is None:
            raise ValueError("shadow_version is required with shadow_model_uri")
        shadow_spec = pod_spec(shadow_model_uri, shadow_version)
        shadow = _predictor(
            SHADOW_PREDICTOR, replicas, shadow_model_uri, shadow_version, shadow_spec, secret_name
        )
        predictors.append({**shadow, "shadow": True})
    version = _label_value("model_version", model_version)
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/component": "model-server",
            "model-version": version,
        },
    }
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": SELDON_API_VERSION,
        "kind": SELDON_KIND,
        "metadata": metadata,
        "spec": {"name": name, "protocol": "seldon", "predictors": predictors},
    }


def _predictor(
    name: str,
    replicas: int,
    model_uri: str,
    model_version: str | int,
    pod_spec: dict,
    secret_name: str | None,
) -> dict[str, Any]:
    graph: dict[str, Any] = {
        "name": GRAPH_NODE,
        "type": "MODEL",
        # Informational for a custom container (the init container downloads it).
        "modelUri": model_uri,
        "children": [],
    }
    if secret_name:
        graph["envSecretRefName"] = secret_name
    return {
        "name": name,
        "replicas": replicas,
        "labels": {"version": _label_value("model_version", model_version)},
        "componentSpecs": [{"spec": pod_spec}],
        "graph": graph,
    }


def zenml_deployment_config(
    model_name: str,
    model_version: str | int,
    image: str,
    model_uri: str,
    *,
    secret_name: str | None,
    replicas: int = 1,
    resources: Mapping[str, Mapping[str, Any]] | None = None,
    workers: int = 1,
    image_pull_secret: str | None = None,
    storage_initializer_image: str = DEFAULT_STORAGE_INITIALIZER,
    request_log: bool = True,
    request_log_claim: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments of ZenML's ``SeldonDeploymentConfig`` for this image (a custom deployment).

    Use it inside a step, with the active Seldon model deployer::

        deployer = SeldonModelDeployer.get_active_model_deployer()
        config = SeldonDeploymentConfig(**zenml_deployment_config(
            "churn", "7", image, bundle_uri, secret_name=deployer.kubernetes_secret_name))
        deployer.deploy_model(config, service_type=SeldonDeploymentService.SERVICE_TYPE,
                              replace=True, timeout=300)

    ``secret_name`` should be ``deployer.kubernetes_secret_name``: the deployer
    (re)creates that Kubernetes secret from the artifact store's credentials before it
    applies the resource, and the storage initializer reads it.

    Args:
        model_name: The ZenML model name (also the Seldon predictor name: a DNS label).
        model_version: The ZenML model version served (the service is linked to it).
        image: The serving image.
        model_uri: Artifact-store URI of the bundle directory.
        secret_name: Kubernetes secret with the rclone credentials (None: none).
        replicas: Pods of the predictor.
        resources: Requests/limits of the model container.
        workers: Server processes per pod (``SERVING_WORKERS``).
        image_pull_secret: Secret to pull a private image with.
        storage_initializer_image: The init container that downloads the bundle.
        request_log: Log answered rows (see :func:`pod_spec_for_zenml`).
        request_log_claim: PersistentVolumeClaim for the log; None: an ``emptyDir``.
        env: More environment variables of the model container (see :func:`pod_spec_for_zenml`).
    """
    _check_dns_label("model_name (the Seldon predictor name)", model_name)
    version = _label_value("model_version", model_version)
    return {
        "model_name": model_name,
        "model_version": version,
        "model_uri": model_uri,
        "implementation": "custom",
        "replicas": _positive_int("replicas", replicas, minimum=0),
        "secret_name": secret_name,
        "parameters": None,
        "resources": None,  # engine (service orchestrator) resources: Seldon's defaults
        "is_custom_deployment": True,
        "spec": pod_spec_for_zenml(
            image,
            model_uri,
            version,
            resources=resources,
            workers=workers,
            secret_name=secret_name,
            image_pull_secret=image_pull_secret,
            storage_initializer_image=storage_initializer_image,
            request_log=request_log,
            request_log_claim=request_log_claim,
            env=env,
        ),
        # Becomes the label zenml.model_version on the SeldonDeployment.
        "extra_args": {"model_version": version},
    }


def serving_image(pod_spec: Mapping[str, Any] | None) -> str | None:
    """The image of the model container (the one named after the graph node) in a pod spec, or None."""
    for container in (pod_spec or {}).get("containers") or []:
        if container.get("name") == GRAPH_NODE:
            return container.get("image")
    return None


def served_bundle_uri(pod_spec: Mapping[str, Any] | None) -> str | None:
    """The bundle URI the pod's storage initializer downloads (its first argument), or None."""
    for container in (pod_spec or {}).get("initContainers") or []:
        if container.get("name") == f"{GRAPH_NODE}-model-initializer" and container.get("args"):
            return container["args"][0]
    return None


def to_yaml(resource: Mapping[str, Any]) -> str:
    """The resource as YAML, keys in the order they were built."""
    import yaml

    return yaml.safe_dump(dict(resource), sort_keys=False, default_flow_style=False)


def main(argv: list[str] | None = None) -> int:
    """``python -m adapters.seldon_deployment NAME IMAGE MODEL_URI VERSION [options] > sdep.yaml``."""
    parser = argparse.ArgumentParser(prog="python -m adapters.seldon_deployment", description=main.__doc__)
    parser.add_argument("name")
    parser.add_argument("image")
    parser.add_argument("model_uri")
    parser.add_argument("model_version")
    parser.add_argument("--namespace")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="server processes per pod (SERVING_WORKERS)")
    parser.add_argument(
        "--secret-name", help="Kubernetes secret with the artifact store's rclone credentials"
    )
    parser.add_argument("--image-pull-secret")
    parser.add_argument("--storage-initializer-image", default=DEFAULT_STORAGE_INITIALIZER)
    parser.add_argument(
        "--request-log-claim", help="PersistentVolumeClaim for the request log (default: an emptyDir)"
    )
    parser.add_argument("--no-request-log", action="store_true", help="do not log answered rows")
    parser.add_argument("--shadow-model-uri", help="a challenger's bundle, run as a shadow predictor")
    parser.add_argument("--shadow-version", help="the challenger's version (with --shadow-model-uri)")
    args = parser.parse_args(argv)
    try:
        resource = render_seldon_deployment(
            args.name,
            args.image,
            args.model_uri,
            args.model_version,
            replicas=args.replicas,
            namespace=args.namespace,
            workers=args.workers,
            secret_name=args.secret_name,
            image_pull_secret=args.image_pull_secret,
            storage_initializer_image=args.storage_initializer_image,
            request_log=not args.no_request_log,
            request_log_claim=args.request_log_claim,
            shadow_model_uri=args.shadow_model_uri,
            shadow_version=args.shadow_version,
        )
    except ValueError as exc:
        parser.error(str(exc))
    sys.stdout.write(to_yaml(resource))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
