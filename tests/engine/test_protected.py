"""Protected attributes: the spec, its checks against a dataset, the group of each row, storage."""
from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from engine.data.protected import MAX_VALUE_GROUPS, Protected, check, parse_protected
from engine.errors import ConfigError, DatasetError
from tests.conftest import SHARED_DATA

GERMAN = SHARED_DATA / "german_credit.csv"


def test_parse_cut_and_value_groupings():
    age, sex = parse_protected("age<25, personal_status_sex")
    assert age == Protected(name="age<25", column="age", cut=25.0, op="<")
    assert sex == Protected(name="personal_status_sex", column="personal_status_sex", cut=None)
    assert [p.name for p in parse_protected("age>=60,age <= 30.5,age≥18,")] == ["age≥60", "age≤30.5", "age≥18"]
    assert parse_protected("") == [] and parse_protected(None) == []


@pytest.mark.parametrize("spec", ["age<abc", "<25", "age<"])
def test_a_malformed_cut_names_the_setting_and_the_form(spec):
    with pytest.raises(ConfigError) as e:
        parse_protected(spec)
    assert e.value.field == "protected" and "COLUMN<NUMBER" in str(e.value)


def test_groups_of_a_cut_include_missing_and_unreadable_cells():
    (age,) = parse_protected("age<25")
    rows = [{"age": "24"}, {"age": "25"}, {"age": " 19.5 "}, {"age": ""}, {"age": "n/a"}, {}]
    assert age.groups(rows) == ["age<25", "age≥25", "age<25", "missing", "missing", "missing"]
    (old,) = parse_protected("age>=60")
    assert old.groups([{"age": "60"}, {"age": "59"}]) == ["age≥60", "age<60"]
    (upto,) = parse_protected("age<=25")
    assert upto.groups([{"age": "25"}, {"age": "26"}]) == ["age≤25", "age>25"]


def test_groups_by_value_strip_spaces_and_mark_missing():
    (sex,) = parse_protected("sex")
    assert sex.groups([{"sex": " f"}, {"sex": "m"}, {"sex": "NA"}]) == ["f", "m", "missing"]


def test_check_lists_every_problem_at_once():
    specs = parse_protected("age<25,agee,purpose<3,age<25")
    with pytest.raises(DatasetError) as e:
        check(specs, ["age", "purpose", "risk"], ["age"])
    problems = e.value.problems
    assert len(problems) == 3
    assert "\"agee\" is not in the file" in problems[0] and "age, purpose, risk" in problems[0]
    assert "\"purpose<3\"" in problems[1] and "not numeric" in problems[1] and "(\"purpose\")" in problems[1]
    assert "listed twice" in problems[2]
    check(parse_protected("age<25,purpose"), ["age", "purpose"], ["age"])          # fine: no error


def test_check_refuses_a_value_grouping_with_too_many_groups():
    rows = [{"age": str(20 + i), "purpose": "car"} for i in range(MAX_VALUE_GROUPS + 5)]
    with pytest.raises(DatasetError) as e:
        check(parse_protected("age,purpose"), ["age", "purpose"], ["age"], rows=rows)
    (problem,) = e.value.problems
    assert "\"age\" has 25 distinct values" in problem and "age<25" in problem


def test_round_trip_through_json():
    specs = parse_protected("age>=60,personal_status_sex")
    back = [Protected.from_dict(d) for d in json.loads(json.dumps([p.to_dict() for p in specs]))]
    assert back == specs


@pytest.mark.skipif(not GERMAN.exists(), reason="shared data not present")
def test_german_credit_age_and_sex_groups():
    with GERMAN.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    specs = parse_protected("age<25,personal_status_sex")
    check(specs, list(rows[0]), ["age", "duration_months"], rows=rows)
    age = Counter(specs[0].groups(rows))
    young = sum(float(r["age"]) < 25 for r in rows)
    assert age == {"age<25": young, "age≥25": len(rows) - young}
    assert "missing" not in age and len(Counter(specs[1].groups(rows))) == 4
