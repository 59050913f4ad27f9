"""The example workflow's metadata rules (workflow/scripts/validate.py) on records Majora's add endpoint
would refuse today but that older records, partial updates or other servers can hold."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "wf_validate", Path(__file__).resolve().parent.parent / "workflow" / "scripts" / "validate.py")
validate = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(validate)

TODAY = dt.date(2026, 11, 27)
GOOD = {"central_sample_id": "BIRM-00001", "adm1": "UK-ENG", "adm2": "BIRMINGHAM", "adm2_private": "B20",
        "collection_date": "2026-11-16", "received_date": "2026-11-17", "is_surveillance": "N",
        "source_sex": "F", "sample_type_collected": "swab", "swab_site": "nose-throat",
        "collection_pillar": 2}


def problems(**changes):
    return validate.check_record({**GOOD, **changes}, TODAY)


def test_a_good_record_has_no_problems() -> None:
    assert problems() == []
    v = validate.verdict(GOOD, "BIRM-00001", TODAY)
    assert v["valid"] and v["collection_week"] == "2026-W47" and v["adm1"] == "UK-ENG"


@pytest.mark.parametrize(("changes", "expected"), [
    ({"collection_date": "2026-12-01", "received_date": "2026-12-02"},
     "collection_date: Sample cannot be collected in the future"),
    ({"collection_date": "2019-12-30"}, "collection_date: Sample cannot be collected before 2020"),
    ({"received_date": "2026-11-10"}, "received_date: Sample cannot be received before it was collected"),
    ({"adm1": "UK-XXX"}, "adm1: 'UK-XXX' is not one of UK-ENG, UK-SCT, UK-WLS, UK-NIR"),
    ({"adm1": None}, "adm1: This field is required."),
    ({"is_surveillance": ""}, "is_surveillance: You must set is_surveillance to Y or N"),
    ({"collection_date": None, "received_date": None},
     "received_date: You must provide a received date for samples without a collection date"),
    ({"collection_date": "16/11/2026"}, "collection_date: '16/11/2026' is not a YYYY-MM-DD date"),
    ({"adm2": "B20 1AA"}, "adm2: adm2 cannot contain numbers. Use adm2_private if you are trying to provide "
                          "an outer postcode"),
    ({"adm2_private": "B20 1AA"}, "adm2_private: Enter the first part of the postcode only"),
    ({"sample_type_collected": "sputum"}, "sample_type_collected: Swab site specified but the sample type is "
                                          "not 'swab'"),
    ({"collection_pillar": 7}, "collection_pillar: '7' is not one of 1, 2, 103, 34613"),
])
def test_each_rule_gives_majoras_message_for_the_field(changes, expected) -> None:
    assert expected in problems(**changes)


def test_placeholder_and_missing_records() -> None:
    empty = dict.fromkeys(GOOD)
    empty["central_sample_id"] = "BIRM-00901"
    assert validate.check_record(empty, TODAY) == [
        "metadata: none submitted yet (placeholder sample; the lab must add the metadata)"]
    assert validate.check_record(None, TODAY) == ["record: not found in Majora"]
    assert not validate.verdict(None, "X-1", TODAY)["valid"]
