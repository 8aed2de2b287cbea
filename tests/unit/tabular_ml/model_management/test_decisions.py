"""Which version is the challenger, and which one a rollback restores."""

from tabular_ml.model_management.decisions import (
    choose_challenger,
    decision_record,
    is_decided,
    previous_production,
)

TRAINED = {"metrics": {"roc_auc": 0.84}}


def decided(status: str) -> dict:
    return {**TRAINED, "decision": decision_record(status, "test")}


def test_the_challenger_is_the_newest_trained_undecided_version():
    versions = [(1, decided("promoted")), (2, TRAINED), (3, TRAINED), (4, {})]  # 4: training failed
    assert choose_challenger(versions) == 3


def test_a_version_older_than_a_decided_one_is_never_the_challenger():
    # 3 was decided while 2 waited: 2 is stale, and picking it later (say after a rollback to 1)
    # would compare a model older than the last decision with production
    versions = [(1, decided("restored")), (2, TRAINED), (3, decided("rejected")), (4, {})]
    assert choose_challenger(versions) is None
    assert choose_challenger([*versions, (5, TRAINED)]) == 5


def test_rejected_and_rolled_back_versions_are_never_challengers_again():
    versions = [(1, decided("restored")), (2, decided("rolled_back")), (3, decided("rejected"))]
    assert choose_challenger(versions) is None


def test_versions_decided_before_decision_records_count_as_decided():
    assert is_decided({**TRAINED, "promotion": {"promote": False}})
    assert choose_challenger([(1, {**TRAINED, "promotion": {"promote": True}})]) is None


def test_decision_record_holds_status_reason_and_time():
    record = decision_record("rejected", "worse", improvement=-0.01)
    assert (record["status"], record["reason"], record["improvement"]) == ("rejected", "worse", -0.01)
    assert record["at"].endswith("+00:00")


def test_rollback_goes_to_the_recorded_previous_production():
    versions = [(1, decided("promoted")), (2, decided("rejected")), (3, decided("promoted"))]
    assert previous_production(3, {"previous_production": 1}, versions) == 1


def test_without_a_record_rollback_goes_to_the_newest_earlier_served_version():
    versions = [
        (1, decided("promoted")),
        (2, decided("promoted")),
        (3, decided("rejected")),
        (4, decided("restored")),
    ]
    assert previous_production(4, {}, versions) == 2
    assert previous_production(1, {}, versions) is None
