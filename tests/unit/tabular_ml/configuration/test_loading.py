"""Run configuration loading: YAML reading, dotted overrides and one-line validation errors."""

from __future__ import annotations

import copy

import pytest
import yaml
from pydantic import ValidationError

from tabular_ml.configuration.loading import (
    ConfigError,
    apply_overrides,
    describe_validation_error,
    read_yaml,
    validate_section,
)
from tabular_ml.configuration.schema import FileSource, SplitConfig, TrainingParameters
from tests.support.paths import PROJECT_ROOT

TRAINING_YAML = PROJECT_ROOT / "configs" / "training.yaml"


@pytest.fixture(scope="module")
def training_config() -> dict:
    return yaml.safe_load(TRAINING_YAML.read_text())


@pytest.fixture
def base(training_config) -> dict:
    return copy.deepcopy(training_config)


def error_of(config: dict, overrides: list[str] = ()) -> str:
    """The ConfigError message validating ``parameters`` after the overrides."""
    with pytest.raises(ConfigError) as caught:
        validate_section(apply_overrides(config, list(overrides)), "parameters", TrainingParameters)
    return str(caught.value)


# --------------------------------------------------------------------------- read_yaml


def test_read_yaml_returns_the_mapping(tmp_path):
    assert read_yaml(TRAINING_YAML) == yaml.safe_load(TRAINING_YAML.read_text())
    path = tmp_path / "c.yaml"
    path.write_text("a:\n  b: [1, two]\n  c: null\n")
    assert read_yaml(path) == {"a": {"b": [1, "two"], "c": None}}


def test_read_yaml_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        read_yaml(missing)
    assert str(caught.value) == f"config file not found: {missing}"


def test_read_yaml_directory_is_not_a_file(tmp_path):
    with pytest.raises(ConfigError, match="^config file not found: "):
        read_yaml(tmp_path)


def test_read_yaml_invalid_yaml_names_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigError) as caught:
        read_yaml(bad)
    assert str(caught.value) == f"{bad}: invalid YAML at line 3: expected ',' or ']', but got ':'"
    assert "\n" not in str(caught.value)


def test_read_yaml_bad_indentation(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\n  b: 2\n")
    with pytest.raises(ConfigError) as caught:
        read_yaml(bad)
    assert str(caught.value) == f"{bad}: invalid YAML at line 2: mapping values are not allowed here"


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("just text\n", "str"), ("42\n", "int")])
def test_read_yaml_top_level_must_be_a_mapping(tmp_path, text, kind):
    path = tmp_path / "list.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_yaml(path)
    assert str(caught.value) == f"{path}: expected a mapping of keys at the top level, got {kind}"


def test_read_yaml_empty_file_is_an_empty_mapping(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# only a comment\n")
    assert read_yaml(path) == {}


# --------------------------------------------------------------------------- apply_overrides


def test_override_nested_key(base):
    merged = apply_overrides(base, ["parameters.split.test_size=0.3"])
    assert merged["parameters"]["split"]["test_size"] == 0.3
    assert merged["parameters"]["split"]["random_state"] == 42


def test_override_creates_new_keys_and_sections(base):
    merged = apply_overrides(base, ["parameters.cleaning.drop_columns=[id]", "run_name=try-1", "extra.a.b=2"])
    assert merged["parameters"]["cleaning"]["drop_columns"] == ["id"]
    assert merged["run_name"] == "try-1"
    assert merged["extra"] == {"a": {"b": 2}}


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("0.3", 0.3),
        ("7", 7),
        ("true", True),
        ("false", False),
        ("[a, b]", ["a", "b"]),
        ("null", None),
        ("", None),
        ("'0.3'", "0.3"),
        ("hello world", "hello world"),
        ("{x: 1}", {"x": 1}),
        ("a=b", "a=b"),  # only the first '=' separates key and value
    ],
)
def test_override_values_parse_as_yaml(raw, value):
    merged = apply_overrides({}, [f"k={raw}"])
    assert merged == {"k": value}
    assert type(merged["k"]) is type(value)


def test_override_list_index(base):
    merged = apply_overrides({"a": [{"b": 0}, {"b": 5}]}, ["a.0.b=1"])
    assert merged == {"a": [{"b": 1}, {"b": 5}]}
    merged = apply_overrides(base, ["parameters.features.0.name=ratio", "model.tags.1=tab"])
    assert merged["parameters"]["features"][0]["name"] == "ratio"
    assert merged["model"]["tags"] == ["churn", "tab", "classification"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("a.2.b=1", "override 'a.2.b=1': '2' is not an index of a list of 2 item(s)"),
        ("a.x.b=1", "override 'a.x.b=1': 'x' is not an index of a list of 2 item(s)"),
        ("a.-1.b=1", "override 'a.-1.b=1': '-1' is not an index of a list of 2 item(s)"),
        ("a.5=1", "override 'a.5=1': '5' is not an index of a list of 2 item(s)"),
    ],
)
def test_override_bad_list_index(override, message):
    with pytest.raises(ConfigError) as caught:
        apply_overrides({"a": [{"b": 0}, {"b": 5}]}, [override])
    assert str(caught.value) == message


@pytest.mark.parametrize("override", ["key", "a..b=1", "=1", "a.=1", ".a=1"])
def test_override_malformed(override):
    with pytest.raises(ConfigError) as caught:
        apply_overrides({}, [override])
    assert str(caught.value) == f"override {override!r}: expected dotted.key=value"


def test_override_value_not_yaml():
    with pytest.raises(ConfigError) as caught:
        apply_overrides({}, ["x=[a"])
    assert str(caught.value) == "override 'x=[a': the value is not valid YAML"


def test_override_cannot_descend_into_a_scalar(base):
    with pytest.raises(ConfigError) as caught:
        apply_overrides(base, ["model.name.x=1"])
    assert str(caught.value) == "override 'model.name.x=1': model.name is a value, not a section"
    with pytest.raises(ConfigError) as caught:
        apply_overrides(base, ["parameters.split.test_size.deep.er=1"])
    assert str(caught.value) == (
        "override 'parameters.split.test_size.deep.er=1': "
        "parameters.split.test_size is a value, not a section"
    )


@pytest.mark.parametrize("override", ["model.tags.0.x=1", "model.tags.0.x.y=1"])
def test_override_cannot_descend_into_a_scalar_list_item(base, override):
    with pytest.raises(ConfigError, match=r"model\.tags\.0 is a value, not a section"):
        apply_overrides(base, [override])


def test_override_into_an_empty_section():
    merged = apply_overrides(
        {"parameters": {"cleaning": None}}, ["parameters.cleaning.strip_whitespace=false"]
    )
    assert merged == {"parameters": {"cleaning": {"strip_whitespace": False}}}


def test_overrides_apply_in_order(base):
    merged = apply_overrides(base, ["parameters.split.test_size=0.3", "parameters.split.test_size=0.4"])
    assert merged["parameters"]["split"]["test_size"] == 0.4


def test_override_does_not_mutate_the_input(base, training_config):
    before = copy.deepcopy(base)
    merged = apply_overrides(
        base, ["parameters.split.test_size=0.3", "parameters.features.0.name=x", "new.k=1"]
    )
    assert base == before == training_config
    assert merged is not base
    assert merged["parameters"]["features"] is not base["parameters"]["features"]


def test_no_overrides_gives_an_equal_copy(base):
    merged = apply_overrides(base, [])
    assert merged == base and merged is not base


# --------------------------------------------------------------------------- validation messages


def test_the_shipped_config_is_valid(base):
    params = validate_section(base, "parameters", TrainingParameters)
    assert isinstance(params, TrainingParameters)
    assert isinstance(params.source, FileSource)
    assert params.split == SplitConfig(**base["parameters"].get("split", {}))
    assert list(params.contract.columns) == list(base["parameters"]["contract"]["columns"])
    assert [f.kind for f in params.features] == [f["kind"] for f in base["parameters"]["features"]]


def test_unknown_key_lists_expected_keys(base):
    assert error_of(base, ["parameters.split.tset_size=0.3"]) == (
        "parameters.split.tset_size: unknown key; "
        "expected one of: test_size, random_state, stratify, id_column"
    )


def test_unknown_top_level_parameter_key(base):
    message = error_of(base, ["parameters.splt=1"])
    assert message == (
        "parameters.splt: unknown key; expected one of: task, source, cleaning, contract, split, "
        "preprocessing, features, search, evaluation"
    )


def test_unknown_key_in_discriminated_union_drops_the_tag(base):
    message = error_of(base, ["parameters.source.pth=x"])
    assert message == "parameters.source.pth: unknown key; expected one of: type, path, format"
    assert "file" not in message.split(":")[0]


def test_unknown_key_in_other_union_member(base):
    message = error_of(base, ["parameters.source={type: api, url: 'http://h', pagination: {page_sz: 3}}"])
    assert message == (
        "parameters.source.pagination.page_sz: unknown key; expected one of: page_param, size_param, "
        "page_size, first_page, max_pages"
    )


def test_unknown_key_in_dict_of_models(base):
    assert error_of(base, ["parameters.contract.columns.tenure.mn=1"]) == (
        "parameters.contract.columns.tenure.mn: unknown key; "
        "expected one of: kind, min, max, categories, max_missing_share"
    )


def test_unknown_key_in_list_of_unions(base):
    features = (
        "parameters.features=[{kind: ratio, name: r, numerator: a, denominator: b},"
        " {kind: count, name: c, columns: [a]}]"
    )
    assert error_of(base, [features, "parameters.features.0.nme=x"]) == (
        "parameters.features.0.nme: unknown key; expected one of: kind, name, numerator, denominator"
    )
    assert error_of(base, [features, "parameters.features.1.nme=x"]) == (
        "parameters.features.1.nme: unknown key; expected one of: kind, name, columns, values"
    )


def test_unknown_key_in_list_of_models(base):
    assert error_of(base, ["parameters.search.algorithms.0.foo=1"]) == (
        "parameters.search.algorithms.0.foo: unknown key; "
        "expected one of: name, estimator, params, search_space"
    )


def test_one_line_per_problem(base):
    message = error_of(base, ["parameters.contract.columns.tenure={kind: numeric, mn: 1, mx: 2}"])
    expected = "expected one of: kind, min, max, categories, max_missing_share"
    assert message.splitlines() == [
        f"parameters.contract.columns.tenure.mn: unknown key; {expected}",
        f"parameters.contract.columns.tenure.mx: unknown key; {expected}",
    ]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "parameters.split.test_size=abc",
            "parameters.split.test_size: input should be a valid number, unable to parse string as a number "
            "(got 'abc')",
        ),
        (
            "parameters.split.test_size=1.5",
            "parameters.split.test_size: input should be less than 1 (got 1.5)",
        ),
        (
            "parameters.search.cv=1",
            "parameters.search.cv: input should be greater than or equal to 2 (got 1)",
        ),
        (
            "parameters.contract.target=null",
            "parameters.contract.target: input should be a valid string (got None)",
        ),
        (
            "parameters.preprocessing.scaler=zz",
            "parameters.preprocessing.scaler: "
            "input should be 'standard', 'minmax', 'robust' or 'none' (got 'zz')",
        ),
        (
            "parameters.contract.columns.tenure.kind=text",
            "parameters.contract.columns.tenure.kind: input should be 'numeric', 'categorical' or 'binary' "
            "(got 'text')",
        ),
        # a list or mapping as the bad value is not echoed
        ("parameters.split.stratify=[a, b]", "parameters.split.stratify: input should be a valid boolean"),
    ],
)
def test_wrong_type_shows_the_value(base, override, message):
    assert error_of(base, [override]) == message


def test_model_level_rule(base):
    assert error_of(base, ["parameters.contract.positive_class=Maybe"]) == (
        "parameters.contract: value error, positive_class 'Maybe' is not one of classes ['No', 'Yes']"
    )


def test_missing_required_key(base):
    del base["parameters"]["contract"]
    assert error_of(base) == "parameters.contract: required key is missing"


def test_missing_required_key_inside_union(base):
    del base["parameters"]["source"]["path"]
    assert error_of(base) == "parameters.source.path: required key is missing"


def test_missing_section_lists_every_required_key():
    with pytest.raises(ConfigError) as caught:
        validate_section({}, "parameters", TrainingParameters)
    assert str(caught.value).splitlines() == [
        "parameters.source: required key is missing",
        "parameters.contract: required key is missing",
        "parameters.search: required key is missing",
    ]


def test_bad_union_tag(base):
    assert error_of(base, ["parameters.source.type=ftp"]) == (
        "parameters.source: input tag 'ftp' found using 'type' does not match any of the expected tags: "
        "'file', 'sql', 'api'"
    )
    assert error_of(base, ["parameters.features.0.kind=foo"]) == (
        "parameters.features.0: input tag 'foo' found using 'kind' does not match any of the expected tags: "
        "'ratio', 'difference', 'log', 'bin', 'count'"
    )


def test_missing_union_tag(base):
    del base["parameters"]["source"]["type"]
    assert error_of(base) == "parameters.source: unable to extract tag using discriminator 'type'"


def test_unknown_key_in_plain_union(base):
    message = error_of(
        base,
        ["parameters.search.algorithms.0.search_space.C={distribution: uniform, low: 0, high: 1, foo: 1}"],
    )
    assert "list[any]" not in message and "Distribution" not in message
    assert (
        "parameters.search.algorithms.0.search_space.C.foo: unknown key; "
        "expected one of: distribution, low, high" in message.splitlines()
    )


def test_describe_validation_error_directly():
    with pytest.raises(ValidationError) as caught:
        SplitConfig.model_validate({"test_size": 2, "seed": 1})
    assert describe_validation_error(caught.value, SplitConfig, "split").splitlines() == [
        "split.test_size: input should be less than 1 (got 2)",
        "split.seed: unknown key; expected one of: test_size, random_state, stratify, id_column",
    ]


def test_validate_section_error_is_not_chained(base):
    with pytest.raises(ConfigError) as caught:
        validate_section({"s": {"seed": 1}}, "s", SplitConfig)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert (
        str(caught.value)
        == "s.seed: unknown key; expected one of: test_size, random_state, stratify, id_column"
    )


def test_validate_section_fills_defaults():
    assert validate_section({"split": None}, "split", SplitConfig) == SplitConfig()
    assert validate_section({}, "split", SplitConfig) == SplitConfig(
        test_size=0.2, random_state=42, stratify=True
    )
