"""The SeldonDeployment of adapters/seldon_deployment.py, validated without a cluster.

Three validators: the Kubernetes client's models (every pod-spec field must survive a
deserialize/serialize round trip, so a misspelled key fails), the Seldon Core v1 CRD
(field names of its Go types and the rules of its validating webhook) and ZenML's own
``SeldonDeployment`` model, including the resource ZenML's Seldon deployer would apply for
our custom deployment (its ``provision()`` run against a recording client).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
import yaml

from adapters import seldon_deployment as k8s
from adapters.seldon_deployment import (
    GRAPH_NODE,
    HTTP_PORT,
    METRICS_PORT,
    MODEL_MOUNT,
    pod_spec_for_zenml,
    render_seldon_deployment,
    served_bundle_uri,
    zenml_deployment_config,
)
from tests.support.dockerfile_parsing import arguments_of, env_of, parse_dockerfile
from tests.support.paths import PROJECT_ROOT

kubernetes = pytest.importorskip("kubernetes", reason="the kubernetes client validates the pod spec")
from kubernetes import client as k8s_client  # noqa: E402

IMAGE = "registry.example.com/tabular-serving:1.4.0"
MODEL_URI = "s3://models/churn/7/bundle"
RESOURCES = {"requests": {"cpu": "500m", "memory": "768Mi"}, "limits": {"cpu": 2, "memory": "2Gi"}}
SERVING_IMAGE = parse_dockerfile(PROJECT_ROOT / "Dockerfile")  # the instructions of the image it runs

# Field names of the Seldon Core v1 CRD
# (operator/apis/machinelearning.seldon.io/v1/seldondeployment_types.go).
SDEP_SPEC_KEYS = {
    "name", "predictors", "oauth_key", "oauth_secret", "annotations", "protocol", "transport",
    "replicas", "serverType",
}  # fmt: skip
PREDICTOR_KEYS = {
    "name", "graph", "componentSpecs", "replicas", "annotations", "engineResources", "labels",
    "svcOrchSpec", "traffic", "explainer", "shadow", "ssl",
}  # fmt: skip
PREDICTIVE_UNIT_KEYS = {
    "name", "children", "type", "implementation", "methods", "endpoint", "parameters", "modelUri",
    "serviceAccountName", "envSecretRefName", "storageInitializerImage", "logger",
}  # fmt: skip
COMPONENT_SPEC_KEYS = {"metadata", "spec", "hpaSpec", "replicas", "kedaSpec", "pdbSpec"}
UNIT_TYPES = {"UNKNOWN_TYPE", "ROUTER", "COMBINER", "MODEL", "TRANSFORMER", "OUTPUT_TRANSFORMER"}
PREPACKAGED = {"SKLEARN_SERVER", "XGBOOST_SERVER", "TENSORFLOW_SERVER", "MLFLOW_SERVER", "TRITON_SERVER"}


# --------------------------------------------------------------------------- validators


def _units(unit: dict[str, Any]) -> list[dict[str, Any]]:
    return [unit] + [u for child in unit.get("children") or [] for u in _units(child)]


def check_seldon_crd(resource: dict[str, Any]) -> None:
    """The CRD's field names and its validating webhook's rules (checkPredictiveUnits, traffic...)."""
    assert resource["apiVersion"] == "machinelearning.seldon.io/v1"
    assert resource["kind"] == "SeldonDeployment"
    assert resource["metadata"]["name"]
    spec = resource["spec"]
    assert set(spec) <= SDEP_SPEC_KEYS, set(spec) - SDEP_SPEC_KEYS
    assert spec.get("protocol", "seldon") in {"seldon", "tensorflow", "kfserving", "v2"}
    predictors = spec["predictors"]
    assert predictors, "Graph contains no predictors"
    names = [p["name"] for p in predictors]
    assert len(names) == len(set(names)), "Duplicate predictor name"
    for predictor in predictors:
        assert set(predictor) <= PREDICTOR_KEYS, set(predictor) - PREDICTOR_KEYS
        containers = {
            c["name"]: c for cs in predictor.get("componentSpecs") or [] for c in cs["spec"]["containers"]
        }
        for component in predictor.get("componentSpecs") or []:
            assert set(component) <= COMPONENT_SPEC_KEYS, set(component) - COMPONENT_SPEC_KEYS
        for unit in _units(predictor["graph"]):
            assert set(unit) <= PREDICTIVE_UNIT_KEYS, set(unit) - PREDICTIVE_UNIT_KEYS
            assert unit.get("type", "MODEL") in UNIT_TYPES - {"UNKNOWN_TYPE"}
            implementation = unit.get("implementation")
            if implementation in (None, "UNKNOWN_IMPLEMENTATION"):
                assert unit["name"] in containers, f"Can't find container for Predictive Unit {unit['name']}"
                assert containers[unit["name"]].get("image"), "a custom unit needs an image"
            elif implementation in PREPACKAGED:
                assert unit.get("modelUri"), "modelUri required when using standalone servers"


def check_kubernetes_pod_spec(pod_spec: dict[str, Any]) -> k8s_client.V1PodSpec:
    """Deserialize into the client's V1PodSpec and back: unknown or misspelled keys are lost, so fail."""
    api = k8s_client.ApiClient()
    model = api._ApiClient__deserialize(copy.deepcopy(pod_spec), "V1PodSpec")
    assert isinstance(model, k8s_client.V1PodSpec)
    assert api.sanitize_for_serialization(model) == pod_spec
    return model


def check_kubernetes_metadata(metadata: dict[str, Any]) -> None:
    api = k8s_client.ApiClient()
    model = api._ApiClient__deserialize(copy.deepcopy(metadata), "V1ObjectMeta")
    assert api.sanitize_for_serialization(model) == metadata


# --------------------------------------------------------------------------- the rendered resource


@pytest.fixture
def resource() -> dict[str, Any]:
    return render_seldon_deployment(
        "churn-model",
        IMAGE,
        MODEL_URI,
        "7",
        replicas=3,
        resources=RESOURCES,
        namespace="seldon",
        workers=2,
        secret_name="zenml-seldon-core-abc",
    )


def test_resource_passes_the_seldon_crd_rules(resource):
    check_seldon_crd(resource)
    assert resource["metadata"]["namespace"] == "seldon"
    assert resource["metadata"]["labels"]["model-version"] == "7"
    check_kubernetes_metadata(resource["metadata"])


def test_pod_spec_is_a_valid_kubernetes_pod_spec(resource):
    pod = check_kubernetes_pod_spec(resource["spec"]["predictors"][0]["componentSpecs"][0]["spec"])
    (container,) = pod.containers
    assert container.readiness_probe.http_get.path == "/health/status"
    assert container.liveness_probe.http_get.path == "/v2/health/live"
    assert container.readiness_probe.http_get.port == container.liveness_probe.http_get.port == HTTP_PORT
    assert container.security_context.run_as_non_root is True


def test_predictor_graph_and_replicas(resource):
    (predictor,) = resource["spec"]["predictors"]
    assert predictor["replicas"] == 3
    assert predictor["labels"] == {"version": "7"}
    assert predictor["graph"] == {
        "name": GRAPH_NODE,
        "type": "MODEL",
        "modelUri": MODEL_URI,
        "children": [],
        "envSecretRefName": "zenml-seldon-core-abc",
    }
    containers = [c["name"] for cs in predictor["componentSpecs"] for c in cs["spec"]["containers"]]
    assert containers == [predictor["graph"]["name"]]


def test_model_container(resource):
    pod = resource["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["env"] == [
        {"name": "MODEL_DIR", "value": MODEL_MOUNT},
        {"name": "MODEL_VERSION", "value": "7"},
        {"name": "SERVING_WORKERS", "value": "2"},
        {"name": "SERVING_REQUEST_LOG_DIR", "value": k8s.REQUEST_LOG_MOUNT},
    ]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "768Mi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": HTTP_PORT,
        "metrics": METRICS_PORT,
    }  # no gRPC port: the server speaks HTTP only
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/health/status",
        "port": HTTP_PORT,
        "scheme": "HTTP",
    }
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert container["startupProbe"]["httpGet"]["path"] == "/health/status"
    assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] == 600
    assert container["livenessProbe"]["httpGet"] == {
        "path": "/v2/health/live",
        "port": HTTP_PORT,
        "scheme": "HTTP",
    }
    assert container["volumeMounts"] == [
        {"name": k8s.PROVISION_VOLUME, "mountPath": MODEL_MOUNT, "readOnly": True},
        {"name": k8s.REQUEST_LOG_VOLUME, "mountPath": k8s.REQUEST_LOG_MOUNT},
    ]


def test_init_container_downloads_the_bundle_into_the_shared_volume(resource):
    pod = resource["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    (initializer,) = pod["initContainers"]
    assert initializer["args"] == [MODEL_URI, MODEL_MOUNT]
    assert initializer["envFrom"] == [{"secretRef": {"name": "zenml-seldon-core-abc", "optional": False}}]
    assert initializer["volumeMounts"] == [{"name": k8s.PROVISION_VOLUME, "mountPath": MODEL_MOUNT}]
    assert pod["volumes"][0] == {"name": k8s.PROVISION_VOLUME, "emptyDir": {}}


def test_same_layout_as_zenmls_own_custom_pod_spec():
    """Volume, init container and mount follow create_seldon_core_custom_spec (ZenML's Seldon client)."""
    from zenml.integrations.seldon.seldon_client import create_seldon_core_custom_spec

    theirs = create_seldon_core_custom_spec(MODEL_URI, IMAGE, "secret", ["python"])
    ours = pod_spec_for_zenml(IMAGE, MODEL_URI, "7", secret_name="secret")
    assert [v["name"] for v in ours["volumes"]][:1] == [v["name"] for v in theirs["volumes"]]
    assert ours["initContainers"][0]["name"] == theirs["initContainers"][0]["name"]
    assert ours["initContainers"][0]["args"] == theirs["initContainers"][0]["args"]
    assert ours["initContainers"][0]["envFrom"][0]["secretRef"]["name"] == "secret"
    assert ours["containers"][0]["name"] == theirs["containers"][0]["name"] == GRAPH_NODE
    assert ours["containers"][0]["volumeMounts"][:1] == theirs["containers"][0]["volumeMounts"]
    assert "command" not in ours["containers"][0], "the image's ENTRYPOINT runs, not ZenML's custom server"


def test_defaults_without_secret_namespace_or_pull_secret():
    resource = render_seldon_deployment("churn", IMAGE, MODEL_URI, 12)
    check_seldon_crd(resource)
    (predictor,) = resource["spec"]["predictors"]
    pod = predictor["componentSpecs"][0]["spec"]
    check_kubernetes_pod_spec(pod)
    assert "namespace" not in resource["metadata"]
    assert predictor["replicas"] == 1
    assert "envSecretRefName" not in predictor["graph"]
    assert "envFrom" not in pod["initContainers"][0]
    assert "imagePullSecrets" not in pod
    assert pod["containers"][0]["resources"] == k8s.DEFAULT_RESOURCES
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env == {
        "MODEL_DIR": "/mnt/models",
        "MODEL_VERSION": "12",
        "SERVING_WORKERS": "1",
        "SERVING_REQUEST_LOG_DIR": "/mnt/request-log",
    }
    assert pod["volumes"][1] == {"name": "request-log", "emptyDir": {}}


def test_request_log_volume_a_claim_or_none():
    claimed = pod_spec_for_zenml(IMAGE, MODEL_URI, "7", request_log_claim="serving-requests")
    check_kubernetes_pod_spec(claimed)
    assert claimed["volumes"][1] == {
        "name": "request-log",
        "persistentVolumeClaim": {"claimName": "serving-requests"},
    }
    mounts = {m["name"]: m["mountPath"] for m in claimed["containers"][0]["volumeMounts"]}
    env = {e["name"]: e["value"] for e in claimed["containers"][0]["env"]}
    assert mounts["request-log"] == env["SERVING_REQUEST_LOG_DIR"] == "/mnt/request-log"

    off = pod_spec_for_zenml(IMAGE, MODEL_URI, "7", request_log=False)
    assert [v["name"] for v in off["volumes"]] == [k8s.PROVISION_VOLUME]
    assert "SERVING_REQUEST_LOG_DIR" not in {e["name"] for e in off["containers"][0]["env"]}
    assert len(off["containers"][0]["volumeMounts"]) == 1
    with pytest.raises(ValueError, match="request_log_claim 'Bad_Name' is not a valid Kubernetes name"):
        pod_spec_for_zenml(IMAGE, MODEL_URI, "7", request_log_claim="Bad_Name")


def test_the_deployment_configs_serving_settings_reach_the_container():
    from adapters.model_deployers import serving_env
    from tabular_ml.configuration.schema import ServingConfig

    serving = ServingConfig(max_body_bytes=1_000_000, contract_violations="flag")
    spec = pod_spec_for_zenml(IMAGE, MODEL_URI, "7", env=serving_env(serving))
    check_kubernetes_pod_spec(spec)
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    assert (env["SERVING_MAX_BODY_BYTES"], env["SERVING_CONTRACT_VIOLATIONS"]) == ("1000000", "flag")
    assert env["MODEL_DIR"] == MODEL_MOUNT  # the manifest's own variables stay
    resource = render_seldon_deployment("churn", IMAGE, MODEL_URI, "7", env=serving_env(serving))
    pod = resource["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    assert pod["containers"][0]["env"] == spec["containers"][0]["env"]
    with pytest.raises(ValueError, match=r"env must not set \['MODEL_DIR'\]"):
        pod_spec_for_zenml(IMAGE, MODEL_URI, "7", env={"MODEL_DIR": "/elsewhere"})


def test_image_pull_secret_and_initializer_image():
    pod = pod_spec_for_zenml(
        IMAGE, MODEL_URI, "1", image_pull_secret="regcred", storage_initializer_image="init:2"
    )
    check_kubernetes_pod_spec(pod)
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["initContainers"][0]["image"] == "init:2"


def test_pod_matches_the_dockerfile():
    """Ports, mount point and user of the pod are those the image declares."""
    env = env_of(SERVING_IMAGE)
    assert env["MODEL_DIR"] == MODEL_MOUNT
    assert int(env["PREDICTIVE_UNIT_HTTP_SERVICE_PORT"]) == HTTP_PORT
    assert int(env["PREDICTIVE_UNIT_METRICS_SERVICE_PORT"]) == METRICS_PORT
    exposed = {int(port) for arguments in arguments_of("EXPOSE", SERVING_IMAGE) for port in arguments.split()}
    (container,) = pod_spec_for_zenml(IMAGE, MODEL_URI, "7")["containers"]
    assert {port["containerPort"] for port in container["ports"]} == exposed
    assert arguments_of("USER", SERVING_IMAGE)[-1] == f"{k8s.SERVING_UID}:{k8s.SERVING_UID}"


def test_the_container_runs_the_images_entry_point_with_its_settings_from_env():
    """No command or args (the image runs `python -m serving`); every variable set is one the server reads."""
    from serving.settings import ServingSettings

    spec = pod_spec_for_zenml(IMAGE, MODEL_URI, "7", workers=3, env={"SERVING_MAX_BODY_BYTES": "1000"})
    (container,) = spec["containers"]
    assert "command" not in container and "args" not in container
    read = {
        name for field in ServingSettings.model_fields.values() for name in field.validation_alias.choices
    }
    env = {e["name"]: e["value"] for e in container["env"]}
    assert set(env) - read == {"MODEL_VERSION"}  # a label for people and logs; the bundle says the version
    assert env["SERVING_WORKERS"] == "3"
    text = yaml.safe_dump(spec)
    for gone in ("GUNICORN_", "seldon-core-microservice", "grpc", "THREADS"):
        assert gone not in text, gone
    with pytest.raises(TypeError):
        pod_spec_for_zenml(IMAGE, MODEL_URI, "7", threads=4)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=r"env must not set \['SERVING_WORKERS'\]"):
        pod_spec_for_zenml(IMAGE, MODEL_URI, "7", env={"SERVING_WORKERS": "2"})


def test_the_resource_keeps_the_seldon_protocol():
    """Seldon's executor in front of the container speaks Seldon v1 REST to it."""
    resource = render_seldon_deployment("churn", IMAGE, MODEL_URI, "7")
    assert resource["spec"]["protocol"] == "seldon"
    assert "transport" not in resource["spec"]  # REST, the default


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Churn_Model"}, "name 'Churn_Model' is not a valid Kubernetes name"),
        ({"namespace": "-x"}, "namespace '-x' is not a valid Kubernetes name"),
        ({"model_version": "v 1"}, "model_version 'v 1' cannot be a Kubernetes label value"),
        ({"replicas": -1}, "replicas must be an integer >= 0, got -1"),
        ({"workers": 0}, "workers must be an integer >= 1, got 0"),
        ({"workers": 1.5}, "workers must be an integer >= 1, got 1.5"),
        ({"resources": {"request": {"cpu": "1"}}}, "resources: unknown key(s) ['request']"),
        ({"image": ""}, "image must be a non-empty image reference"),
        ({"model_uri": ""}, "model_uri must be the non-empty URI of the model bundle directory"),
    ],
)
def test_invalid_arguments_are_named(kwargs, message):
    arguments = {"name": "churn", "image": IMAGE, "model_uri": MODEL_URI, "model_version": "1", **kwargs}
    with pytest.raises(ValueError) as caught:
        render_seldon_deployment(**arguments)
    assert str(caught.value).startswith(message)


def test_cli_prints_the_same_resource_as_yaml(capsys):
    assert k8s.main(["churn", IMAGE, MODEL_URI, "7", "--replicas", "2", "--namespace", "seldon"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed == render_seldon_deployment("churn", IMAGE, MODEL_URI, "7", replicas=2, namespace="seldon")
    assert k8s.main(["churn", IMAGE, MODEL_URI, "7", "--request-log-claim", "logs"]) == 0
    claimed = yaml.safe_load(capsys.readouterr().out)
    assert claimed == render_seldon_deployment("churn", IMAGE, MODEL_URI, "7", request_log_claim="logs")
    assert k8s.main(["churn", IMAGE, MODEL_URI, "7", "--no-request-log"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == render_seldon_deployment(
        "churn", IMAGE, MODEL_URI, "7", request_log=False
    )
    assert k8s.main(["churn", IMAGE, MODEL_URI, "7", "--workers", "2"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == render_seldon_deployment(
        "churn", IMAGE, MODEL_URI, "7", workers=2
    )
    with pytest.raises(SystemExit):
        k8s.main(["churn", IMAGE, MODEL_URI, "7", "--threads", "4"])  # no threads: the server is async


# --------------------------------------------------------------------------- a shadow predictor

SHADOW_URI = "s3://models/churn/8/bundle"


def test_a_shadow_predictor_mirrors_traffic_to_the_challengers_bundle():
    resource = render_seldon_deployment(
        "churn-model",
        IMAGE,
        MODEL_URI,
        "7",
        replicas=2,
        secret_name="zenml-seldon-core-abc",
        shadow_model_uri=SHADOW_URI,
        shadow_version=8,
    )
    check_seldon_crd(resource)
    main, shadow = resource["spec"]["predictors"]
    assert "shadow" not in main and "traffic" not in main and "traffic" not in shadow
    assert shadow["shadow"] is True and shadow["name"] == "shadow" and shadow["replicas"] == 2
    assert shadow["labels"] == {"version": "8"} and shadow["graph"]["modelUri"] == SHADOW_URI
    main_pod = main["componentSpecs"][0]["spec"]
    shadow_pod = shadow["componentSpecs"][0]["spec"]
    check_kubernetes_pod_spec(shadow_pod)
    assert served_bundle_uri(main_pod) == MODEL_URI and served_bundle_uri(shadow_pod) == SHADOW_URI
    (container,) = shadow_pod["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["MODEL_VERSION"] == "8" and "SERVING_REQUEST_LOG_DIR" in env  # its own log, its version
    assert served_bundle_uri(None) is None
    with pytest.raises(ValueError, match="^shadow_version is required with shadow_model_uri$"):
        render_seldon_deployment("churn-model", IMAGE, MODEL_URI, "7", shadow_model_uri=SHADOW_URI)
    assert (
        k8s.main(["churn", IMAGE, MODEL_URI, "7", "--shadow-model-uri", SHADOW_URI, "--shadow-version", "8"])
        == 0
    )


# --------------------------------------------------------------------------- what ZenML applies


def test_zenml_seldon_deployment_model_accepts_the_resource(resource):
    from zenml.integrations.seldon.seldon_client import SeldonDeployment

    deployment = SeldonDeployment(**resource)
    dumped = deployment.model_dump(exclude_none=True)
    (predictor,) = dumped["spec"]["predictors"]
    assert predictor["graph"]["modelUri"] == MODEL_URI
    assert predictor["graph"]["name"] == GRAPH_NODE
    assert predictor["componentSpecs"] == resource["spec"]["predictors"][0]["componentSpecs"]
    assert dumped["metadata"]["labels"] == resource["metadata"]["labels"]


class _RecordingSeldonClient:
    """Stands in for zenml's SeldonClient: no deployment exists, creations are recorded."""

    def __init__(self):
        self.created = []

    def get_deployment(self, name):
        from zenml.integrations.seldon.seldon_client import SeldonDeploymentNotFoundError

        raise SeldonDeploymentNotFoundError(name)

    def create_deployment(self, deployment):
        self.created.append(deployment)


def test_zenml_custom_deployment_applies_our_pod(monkeypatch):
    """SeldonDeploymentService.provision(), the call ZenML's Seldon deployer makes, on our config."""
    from zenml.integrations.seldon.services.seldon_deployment import (
        SeldonDeploymentConfig,
        SeldonDeploymentService,
    )

    kwargs = zenml_deployment_config(
        "churn", 7, IMAGE, MODEL_URI, secret_name="zenml-seldon-core-abc", replicas=2, resources=RESOURCES
    )
    config = SeldonDeploymentConfig(**kwargs)
    service = SeldonDeploymentService(uuid=uuid.uuid4(), config=config)
    recorder = _RecordingSeldonClient()
    monkeypatch.setattr(service, "_get_client", lambda: recorder)
    service.provision()

    (deployment,) = recorder.created
    body = deployment.model_dump(exclude_none=True)  # what SeldonClient.create_deployment sends
    check_seldon_crd(body)
    (predictor,) = body["spec"]["predictors"]
    assert predictor["name"] == "churn" and predictor["replicas"] == body["spec"]["replicas"] == 2
    assert predictor["graph"]["name"] == GRAPH_NODE and predictor["graph"]["type"] == "MODEL"
    pod = predictor["componentSpecs"][0]["spec"]
    assert (
        pod
        == kwargs["spec"]
        == pod_spec_for_zenml(IMAGE, MODEL_URI, "7", resources=RESOURCES, secret_name="zenml-seldon-core-abc")
    )
    check_kubernetes_pod_spec(pod)
    assert body["metadata"]["name"] == f"zenml-{service.uuid}"
    assert body["metadata"]["labels"]["zenml.model_version"] == "7"
    assert body["metadata"]["labels"]["zenml.model_name"] == "churn"
    # ZenML re-creates the service from the resource's annotation: nothing is lost on the way.
    assert SeldonDeploymentConfig.create_from_deployment(deployment) == config


def test_zenml_config_rejects_a_predictor_name_kubernetes_would_reject():
    with pytest.raises(ValueError, match="model_name"):
        zenml_deployment_config("Churn Model", "1", IMAGE, MODEL_URI, secret_name=None)


class _ClusterSeldonClient:
    """Stands in for zenml's SeldonClient: keeps deployments by name, as the cluster would."""

    def __init__(self):
        self.deployments, self.calls = {}, []

    def get_deployment(self, name):
        from zenml.integrations.seldon.seldon_client import SeldonDeploymentNotFoundError

        if name not in self.deployments:
            raise SeldonDeploymentNotFoundError(name)
        return self.deployments[name]

    def create_deployment(self, deployment):
        self.calls.append(("create", deployment.name))
        self.deployments[deployment.name] = deployment

    def update_deployment(self, deployment):
        self.calls.append(("update", deployment.name))
        self.deployments[deployment.name] = deployment


def test_a_new_version_updates_the_models_one_seldon_deployment_in_place(monkeypatch):
    """Deploying version 8 over 7 keeps the resource's name: the URL stays, Kubernetes rolls the pods."""
    from zenml.integrations.seldon.services.seldon_deployment import (
        SeldonDeploymentConfig,
        SeldonDeploymentService,
    )
    from zenml.services import ServiceState

    from adapters.model_deployers import _update_in_place
    from tabular_ml.configuration.schema import ServingConfig

    def config_for(version):
        kwargs = zenml_deployment_config(
            "churn", version, IMAGE, MODEL_URI, secret_name="zenml-seldon-core-abc"
        )
        return SeldonDeploymentConfig(**kwargs)

    service = SeldonDeploymentService(uuid=uuid.uuid4(), config=config_for(7))
    cluster = _ClusterSeldonClient()
    monkeypatch.setattr(service, "_get_client", lambda: cluster)
    monkeypatch.setattr(SeldonDeploymentService, "check_status", lambda self: (ServiceState.ACTIVE, ""))
    service.provision()
    deployer = type("Deployer", (), {"flavor": "seldon"})()

    outcome = _update_in_place(deployer, service, config_for(8), "8", ServingConfig(timeout_s=5))

    name = f"zenml-{service.uuid}"
    assert outcome == "updated" and cluster.calls == [("create", name), ("update", name)]
    assert list(cluster.deployments) == [name]
    assert cluster.deployments[name].metadata.labels["zenml.model_version"] == "8"


def test_serving_image_is_the_model_containers():
    pod = pod_spec_for_zenml(IMAGE, MODEL_URI, "7", secret_name="zenml-seldon-core-abc")
    assert [c["name"] for c in pod["initContainers"]] != [GRAPH_NODE]  # the initializer is not it
    assert k8s.serving_image(pod) == IMAGE
    assert k8s.serving_image({"containers": [{"name": "sidecar", "image": "envoy:1"}]}) is None
    assert k8s.serving_image({}) is None and k8s.serving_image(None) is None


def test_a_new_serving_image_of_the_served_version_rolls_the_seldon_deployment(monkeypatch):
    """Same version, new image (a serving fix on main): the resource is updated, not left as it is."""
    from zenml.integrations.seldon.services.seldon_deployment import (
        SeldonDeploymentConfig,
        SeldonDeploymentService,
    )
    from zenml.services import ServiceState

    from adapters.model_deployers import _image_changed, _update_in_place
    from tabular_ml.configuration.schema import ServingConfig

    new_image = "registry.example.com/tabular-serving:1.5.0"

    def config_for(image):
        return SeldonDeploymentConfig(
            **zenml_deployment_config("churn", 7, image, MODEL_URI, secret_name="zenml-seldon-core-abc")
        )

    service = SeldonDeploymentService(uuid=uuid.uuid4(), config=config_for(IMAGE))
    cluster = _ClusterSeldonClient()
    monkeypatch.setattr(service, "_get_client", lambda: cluster)
    monkeypatch.setattr(SeldonDeploymentService, "check_status", lambda self: (ServiceState.ACTIVE, ""))
    service.provision()
    deployer = type("Deployer", (), {"flavor": "seldon", "seldon_client": cluster})()
    local = type("Deployer", (), {"flavor": "seldon-local"})()

    assert not _image_changed(deployer, service, ServingConfig(image=IMAGE))
    assert _image_changed(deployer, service, ServingConfig(image=new_image))
    assert not _image_changed(local, service, ServingConfig(image=new_image))  # no image runs locally

    outcome = _update_in_place(deployer, service, config_for(new_image), "7", ServingConfig(timeout_s=5))

    name = f"zenml-{service.uuid}"
    assert outcome == "updated" and cluster.calls == [("create", name), ("update", name)]
    live_pod = cluster.deployments[name].spec.predictors[0].componentSpecs[0].spec
    assert k8s.serving_image(live_pod) == new_image
    assert not _image_changed(deployer, service, ServingConfig(image=new_image))
