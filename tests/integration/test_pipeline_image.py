"""The pipeline image and pod resources as ZenML renders them for the registered `prod` stack.

No Docker engine and no cluster: a subprocess with a store of its own registers `prod`,
makes it active, prepares each pipeline as run.py does (`prepare_for_active_stack`) and
compiles it with ZenML's compiler. Then ZenML's own build machinery says which images it
would build (`Stack.get_docker_builds`), with which requirements files and Dockerfile
(`PipelineDockerImageBuilder`), from which build context (`BuildContext`), with which
checksum (`BuildConfiguration.compute_settings_checksum`, what decides a rebuild), and the
Kubernetes orchestrator's pod settings become the V1Pod its entrypoint would create
(`build_pod_manifest`). The same is done with the `local` stack: nothing to build.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap

import pytest

from tests.integration.cli import SEARCH_STEPS, TRAINING_STEPS
from tests.support.dockerfile_parsing import arguments_of, parse_dockerfile
from tests.support.paths import PROJECT_ROOT
from tests.support.stack_env import STACK_SECRETS, isolated_zenml_env

pytestmark = pytest.mark.integration

PIPELINE_DOCKERFILE = PROJECT_ROOT / "docker" / "pipeline.Dockerfile"
LOCK = PROJECT_ROOT / "requirements.lock"

RENDER = """
import hashlib, json, os, shutil, sys, tarfile, tempfile
from pathlib import Path
sys.path.insert(0, {root!r})
from zenml.client import Client
from zenml.config.compiler import Compiler
from zenml.config.pipeline_run_configuration import PipelineRunConfiguration
from zenml.image_builders import BuildContext
from zenml.integrations.kubernetes.kube_utils import apply_default_resource_requests
from zenml.integrations.kubernetes.manifest_utils import build_pod_manifest
from zenml.utils.pipeline_docker_image_builder import PipelineDockerImageBuilder
import yaml

import run
from stacks.register import register_stack
from stacks.run_settings import check_run_config
from stacks.spec import RunConfig
from tabular_ml.configuration.loading import ConfigError
from tabular_ml.configuration.run_config import resolve_config

ROOT = Path({root!r})
PIPELINES = {{
    "training": "configs/training.yaml",
    "monitoring": "configs/monitoring.yaml",
    "inference": "configs/inference.yaml",
    "deployment": "configs/deployment.yaml",
}}


def compiled(pipeline, path, overrides=()):
    config = resolve_config(str(ROOT / path), list(overrides), pipeline, False)
    before = json.loads(json.dumps(config))
    pipeline_object, config = run.prepare_for_active_stack(pipeline, config)
    unchanged = before == json.loads(json.dumps(config))  # now: compiling changes the dict
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle)
    configured = pipeline_object.with_options(config_path=handle.name)
    configured.prepare()
    stack = Client().active_stack
    snapshot = Compiler().compile(
        pipeline=configured, stack=stack, run_configuration=PipelineRunConfiguration.model_validate(config)
    )
    return unchanged, config, snapshot, stack


def describe(snapshot, stack):
    builds = []
    for build in stack.get_docker_builds(snapshot):
        files = PipelineDockerImageBuilder.gather_requirements_files(build.settings, stack, log=False)
        # the parent image's build context, as ZenML's image builder archives it
        parent = build.settings.parent_image_build_config
        context = BuildContext(root=build.settings.build_context_root, dockerignore_file=parent.dockerignore)
        context.add_file(source=build.settings.dockerfile, destination="Dockerfile")
        with tempfile.NamedTemporaryFile(suffix=".tar.gz") as archive:
            context.write_archive(archive)
            archive.flush()
            with tarfile.open(archive.name) as tar:
                # (ZenML adds the .zen repository folder where `make init` made one)
                members = [m.name for m in tar.getmembers() if m.isfile()]
                parent_context = sorted(name for name in members if not name.startswith(".zen/"))
                parent_dockerfile = tar.extractfile("Dockerfile").read().decode()
        builds.append({{
            "key": build.key,
            "step": build.step_name,
            "settings": build.settings.model_dump(mode="json", exclude_unset=True),
            "includes_code": build.should_include_files(code_repository=None),
            "downloads_code": build.should_download_files(code_repository=None),
            "requirements_files": [
                [name, hashlib.sha256(text.encode()).hexdigest()] for name, text, _ in files
            ],
            "stack_requirements": sorted(stack.requirements()),
            "dockerfile": PipelineDockerImageBuilder._generate_zenml_pipeline_dockerfile(
                "PARENT", build.settings, files
            ),
            "parent_context": parent_context,
            "parent_dockerfile": parent_dockerfile,
            "checksum": build.compute_settings_checksum(stack=stack),
        }})
    pods = {{}}
    for name, step in snapshot.step_configurations.items():
        settings = stack.orchestrator.get_settings(step)
        # as the orchestrator's entrypoint does before creating each step's pod
        pod_settings = apply_default_resource_requests(memory="400Mi", pod_settings=settings.pod_settings)
        pod = build_pod_manifest(
            pod_name=None, image_name="IMAGE", command=["python"], args=[], privileged=False,
            pod_settings=pod_settings,
        )
        resources = pod.spec.containers[0].resources  # the pod settings' dict, as the API gets it
        pods[name] = {{"requests": resources.get("requests"), "limits": resources.get("limits")}}
    return builds, pods


def upstream_of(snapshot):
    # each step's upstream steps: the orchestrator starts a step's pod once these are done
    return {{name: sorted(step.spec.upstream_steps) for name, step in snapshot.step_configurations.items()}}


def checksum_in(folder, stack, build):
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        return build.compute_settings_checksum(stack=stack)
    finally:
        os.chdir(cwd)


client = Client()
for name, values in {secrets!r}.items():
    client.create_secret(name, values=values)
out = {{"prod": {{}}}}
register_stack(ROOT / "configs" / "stacks" / "prod.yaml")
for pipeline, path in PIPELINES.items():
    unchanged, config, snapshot, stack = compiled(pipeline, path)
    builds, pods = describe(snapshot, stack)
    steps = sorted(config.get("steps") or {{}})
    out["prod"][pipeline] = {{
        "builds": builds, "pods": pods, "steps_in_config": steps, "upstream": upstream_of(snapshot)
    }}
# batch scoring fanned out: a plan, three partition branches, a merge
_, _, snapshot, stack = compiled("inference", PIPELINES["inference"], ["parameters.partitions=3"])
_, pods = describe(snapshot, stack)
out["inference_partitioned"] = {{"pods": pods, "upstream": upstream_of(snapshot)}}

# The checksum ZenML reuses a build by: the same files elsewhere give the same; another lock, another.
_, _, snapshot, stack = compiled("training", PIPELINES["training"])
(build,) = stack.get_docker_builds(snapshot)
copy = Path(tempfile.mkdtemp())
for name in ("docker/pipeline.Dockerfile", "docker/pipeline.Dockerfile.dockerignore", "requirements.lock"):
    (copy / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / name, copy / name)
same = checksum_in(copy, stack, build)
lock = (copy / "requirements.lock").read_text().replace("scikit-learn==", "scikit-learn===")
(copy / "requirements.lock").write_text(lock)
out["checksums"] = {{"here": build.compute_settings_checksum(stack=stack), "copy": same,
                     "other_lock": checksum_in(copy, stack, build)}}

bad = RunConfig.model_validate({{
    "settings": {{"orchestrator.sagemaker": {{}}, "docker": {{"dockerfile": "docker/nope.Dockerfile"}}}},
    "steps": {{"train_model": {{"settings": {{"orchestrator.kubernetes": {{"pod_setings": {{}}}}}}}}}},
}})
try:
    check_run_config(bad, stack, where="bad.yaml")
except ConfigError as error:
    out["bad_run_config"] = str(error).splitlines()

register_stack(ROOT / "configs" / "stacks" / "local.yaml")
unchanged, config, snapshot, stack = compiled("training", PIPELINES["training"])
out["local"] = {{"config_unchanged": unchanged, "builds": len(stack.get_docker_builds(snapshot))}}
print(json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipeline-image")
    script = folder / "render.py"
    script.write_text(textwrap.dedent(RENDER).format(root=str(PROJECT_ROOT), secrets=STACK_SECRETS))
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=PROJECT_ROOT,  # ZenML reads the docker settings' paths from the working directory
        env=isolated_zenml_env(folder),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-5000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_one_pipeline_image_per_pipeline_from_the_project_dockerfile(rendered):
    for pipeline, described in rendered["prod"].items():
        (build,) = described["builds"]
        assert (build["key"], build["step"]) == ("orchestrator", None), pipeline
        assert build["settings"] == {
            "dockerfile": "docker/pipeline.Dockerfile",
            "build_context_root": ".",
            "parent_image_build_config": {"dockerignore": "docker/pipeline.Dockerfile.dockerignore"},
            "requirements": "requirements.lock",
            "python_package_installer": "pip",
            "python_package_installer_args": {"no-deps": None},
            "install_stack_requirements": False,
            "target_repository": "tabular-ml-pipeline",
        }, pipeline


def test_the_image_installs_the_lock_and_not_the_integrations_pins(rendered):
    build = rendered["prod"]["training"]["builds"][0]
    lock_hash = hashlib.sha256(LOCK.read_text(encoding="utf-8").encode()).hexdigest()
    assert build["requirements_files"] == [[".zenml_user_requirements", lock_hash]]
    # what install_stack_requirements=True would have added: the pins that contradict each other
    assert "kubernetes==18.20.0" in build["stack_requirements"]
    assert "kubernetes>=21.7,<26" in build["stack_requirements"]
    assert "kubernetes==25.3.0" in LOCK.read_text(encoding="utf-8").splitlines()
    lines = build["dockerfile"].splitlines()
    assert lines[:2] == ["FROM PARENT", "WORKDIR /app"]
    installs = [line for line in lines if line.startswith("RUN pip install")]
    assert installs == [
        "RUN pip install --no-cache-dir --default-timeout=60 --no-deps -r .zenml_user_requirements"
    ]
    assert not any("uv" in line.split() for line in lines), "pip, not uv: the same installer as make install"


def test_the_code_is_downloaded_not_baked_in(rendered):
    """Code changes reuse the image: pods fetch the code ZenML uploads to the artifact store."""
    for pipeline, described in rendered["prod"].items():
        build = described["builds"][0]
        assert (build["includes_code"], build["downloads_code"]) == (False, True), pipeline


def test_the_parent_image_context_is_the_lock_alone(rendered):
    build = rendered["prod"]["training"]["builds"][0]
    # docker-py keeps a root `Dockerfile` in any context; ZenML puts the pipeline one in its place
    assert build["parent_context"] == ["Dockerfile", "requirements.lock"]
    assert build["parent_dockerfile"] == PIPELINE_DOCKERFILE.read_text(encoding="utf-8")
    copies = arguments_of("COPY", parse_dockerfile(PIPELINE_DOCKERFILE))
    assert copies == ["requirements.lock /tmp/requirements.lock"]


def test_a_changed_lock_means_a_new_image_and_only_then(rendered):
    checksums = rendered["checksums"]
    assert checksums["here"] == checksums["copy"], "the same files in another checkout: the build is reused"
    assert checksums["other_lock"] != checksums["here"]
    assert rendered["prod"]["training"]["builds"][0]["checksum"] == checksums["here"]


def test_partitioned_scoring_fans_out_into_parallel_pods_merged_by_one(rendered):
    partitioned = rendered["inference_partitioned"]
    branches = [f"score_partition_{i}" for i in range(3)]
    upstream = partitioned["upstream"]
    assert set(upstream) == {"plan_partitions", "merge_partitions", *branches}
    assert upstream["plan_partitions"] == []
    for branch in branches:  # each waits for the plan only, never for another branch
        assert upstream[branch] == ["plan_partitions"], branch
        assert partitioned["pods"][branch] == {
            "requests": {"cpu": "1", "memory": "2Gi"},
            "limits": {"cpu": "1", "memory": "4Gi"},
        }, branch
    assert upstream["merge_partitions"] == branches
    default = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    assert partitioned["pods"]["merge_partitions"] == default
    assert partitioned["pods"]["plan_partitions"] == default


def test_pods_get_more_for_the_search_than_for_ingestion(rendered):
    pods = rendered["prod"]["training"]["pods"]
    assert set(pods) == set(TRAINING_STEPS)
    for branch in SEARCH_STEPS:  # the stack file's search_algorithm entry, given to every branch
        assert pods[branch] == {
            "requests": {"cpu": "4", "memory": "4Gi"},
            "limits": {"cpu": "4", "memory": "8Gi"},
        }, branch
    assert pods["train_model"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"cpu": "2", "memory": "8Gi"},
    }
    assert pods["ingest_data"] == {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    default = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    for step in ("clean_data", "validate_data", "split_data", "evaluate_model", "record_model_version"):
        assert pods[step] == default, step


def test_the_search_fans_out_into_parallel_branches_merged_by_train_model(rendered):
    upstream = rendered["prod"]["training"]["upstream"]
    for branch in SEARCH_STEPS:
        # the split (and the target spec validate_data resolved before it), never another branch
        assert upstream[branch] == ["split_data", "validate_data"], branch
    assert set(SEARCH_STEPS) <= set(upstream["train_model"])
    assert set(upstream["train_model"]) - set(SEARCH_STEPS) == {"split_data", "validate_data"}
    assert "train_model" in upstream["evaluate_model"]


def test_other_pipelines_get_their_steps_resources_and_no_others(rendered):
    prod = rendered["prod"]
    assert prod["monitoring"]["pods"]["check_drift"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"memory": "4Gi"},
    }
    assert prod["inference"]["pods"]["score_batch"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"memory": "4Gi"},
    }
    default = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    assert all(pod == default for pod in prod["deployment"]["pods"].values())
    # train_model's settings were not handed to pipelines without that step (ZenML would warn)
    assert "train_model" not in prod["monitoring"]["steps_in_config"]
    assert prod["deployment"]["steps_in_config"] == ["deploy_model", "promote_model"]


def test_a_bad_run_config_is_named_line_by_line(rendered):
    lines = rendered["bad_run_config"]
    assert lines[0].startswith(
        "bad.yaml: run_config.settings.orchestrator.sagemaker: no such settings on stack 'prod'"
    )
    assert lines[1].startswith(
        "bad.yaml: run_config.settings.docker.dockerfile: docker/nope.Dockerfile not found"
    )
    assert lines[2].startswith(
        "bad.yaml: run_config.steps.train_model.settings.orchestrator.kubernetes.pod_setings: "
    )
    assert "unknown key; expected one of: " in lines[2] and "pod_settings" in lines[2]
    assert len(lines) == 3


def test_local_runs_are_untouched_and_build_nothing(rendered):
    assert rendered["local"] == {"config_unchanged": True, "builds": 0}


def test_the_pipeline_dockerfile_installs_the_lock_like_make_install():
    instructions = parse_dockerfile(PIPELINE_DOCKERFILE)
    (base,) = arguments_of("FROM", instructions)
    assert base == f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
    (install,) = arguments_of("RUN", instructions)
    assert install == "pip install --no-deps -r /tmp/requirements.lock && pip check"
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    assert "pip install --quiet --no-deps -r requirements.lock" in makefile and "pip check" in makefile
    assert "ENTRYPOINT" not in dict(instructions), "ZenML's orchestrator gives each pod its command"
