"""A stack's run_config laid over a run's configuration (stacks/run_settings.py)."""

from __future__ import annotations

from stacks.run_settings import deep_merge, merge_run_config
from stacks.spec import RunConfig


def test_deep_merge_lays_the_override_over_the_base():
    base = {"a": {"x": 1, "y": {"z": 2}}, "b": [1]}
    override = {"a": {"y": {"w": 3}}, "b": [2]}
    assert deep_merge(base, override) == {"a": {"x": 1, "y": {"z": 2, "w": 3}}, "b": [2]}
    assert base == {"a": {"x": 1, "y": {"z": 2}}, "b": [1]}, "the base is not changed"


def test_merge_run_config_under_the_run_and_only_for_its_steps():
    run_config = RunConfig.model_validate(
        {
            "settings": {"docker": {"dockerfile": "d", "requirements": "r"}},
            "steps": {
                "train_model": {"settings": {"orchestrator.kubernetes": {"pod_settings": {"x": 1, "y": 2}}}},
                "score_batch": {"settings": {"orchestrator.kubernetes": {"pod_settings": {"x": 9}}}},
            },
        }
    )
    config = {
        "parameters": {"p": 1},
        "settings": {"docker": {"requirements": "mine"}},
        "steps": {
            "train_model": {
                "experiment_tracker": "t",
                "settings": {"orchestrator.kubernetes": {"pod_settings": {"y": 5}}},
            }
        },
    }
    merged = merge_run_config(config, run_config, {"ingest_data", "train_model"})
    assert merged == {
        "parameters": {"p": 1},
        "settings": {"docker": {"dockerfile": "d", "requirements": "mine"}},
        "steps": {
            "train_model": {
                "experiment_tracker": "t",
                "settings": {"orchestrator.kubernetes": {"pod_settings": {"x": 1, "y": 5}}},
            }
        },
    }
    assert config["settings"] == {"docker": {"requirements": "mine"}}, "the run's config is not changed"
    assert merge_run_config({"parameters": {}}, RunConfig(), {"train_model"}) == {"parameters": {}}


def test_a_step_entry_applies_to_every_invocation_of_that_step_and_an_invocation_entry_wins():
    pods = {
        "orchestrator.kubernetes": {
            "pod_settings": {"resources": {"requests": {"cpu": "2", "memory": "3Gi"}}}
        }
    }
    forest = {"orchestrator.kubernetes": {"pod_settings": {"resources": {"requests": {"memory": "6Gi"}}}}}
    run_config = RunConfig.model_validate(
        {"steps": {"search_algorithm": {"settings": pods}, "search_forest": {"settings": forest}}}
    )
    steps = {"split_data": "split_data", "search_lr": "search_algorithm", "search_forest": "search_algorithm"}
    merged = merge_run_config({"parameters": {}}, run_config, steps)
    resources = {
        name: step["settings"]["orchestrator.kubernetes"]["pod_settings"]["resources"]
        for name, step in merged["steps"].items()
    }
    assert resources == {
        "search_lr": {"requests": {"cpu": "2", "memory": "3Gi"}},
        "search_forest": {"requests": {"cpu": "2", "memory": "6Gi"}},
    }
