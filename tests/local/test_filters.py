"""Lambda filter-criteria matching, as the local stream pump applies it to DynamoDB stream records."""

from __future__ import annotations

from typing import Any

import pytest

from sitedeploy_local.filters import any_of, matches, matches_any


def _insert(entity: str = "Deployment", status: str = "pending", **extra: Any) -> dict[str, Any]:
    image: dict[str, Any] = {"entity": {"S": entity}, "status": {"S": status}}
    image.update(extra)
    return {
        "eventID": "1",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"pk": {"S": "DEP#1"}, "sk": {"S": "META"}},
            "NewImage": image,
            "SequenceNumber": "111",
            "SizeBytes": 26,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


INSERT = _insert()

TTL_REMOVE: dict[str, Any] = {
    "eventID": "2",
    "eventName": "REMOVE",
    "eventSource": "aws:dynamodb",
    "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
    "dynamodb": {
        "Keys": {"pk": {"S": "UPLOAD#9"}, "sk": {"S": "META"}},
        "OldImage": {"entity": {"S": "Upload"}, "expiresAt": {"N": "1700000000"}},
    },
}

USER_REMOVE: dict[str, Any] = {
    "eventID": "3",
    "eventName": "REMOVE",
    "eventSource": "aws:dynamodb",
    "dynamodb": {
        "Keys": {"pk": {"S": "UPLOAD#9"}, "sk": {"S": "META"}},
        "OldImage": {"entity": {"S": "Upload"}},
    },
}

TTL_PATTERN = {
    "eventName": ["REMOVE"],
    "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
}

PENDING_DEPLOYMENT = {
    "eventName": ["INSERT"],
    "dynamodb": {"NewImage": {"entity": {"S": ["Deployment"]}, "status": {"S": ["pending"]}}},
}


def _status(*alternatives: Any) -> dict[str, Any]:
    """A pattern on NewImage.status.S."""
    return {"dynamodb": {"NewImage": {"status": {"S": list(alternatives)}}}}


def _size(*alternatives: Any) -> dict[str, Any]:
    """A pattern on NewImage.size.N (DynamoDB numbers arrive as strings)."""
    return {"dynamodb": {"NewImage": {"size": {"N": list(alternatives)}}}}


def _with_size(n: str) -> dict[str, Any]:
    return _insert(size={"N": n})


# --- nested DynamoDB records, AND across keys, OR within a leaf -----------------------------------


def test_nested_dynamodb_pattern_matches_insert() -> None:
    assert matches(PENDING_DEPLOYMENT, INSERT) is True


@pytest.mark.parametrize(
    "record",
    [
        _insert(status="succeeded"),
        _insert(entity="Upload"),
        {**INSERT, "eventName": "MODIFY"},
    ],
    ids=["other-status", "other-entity", "other-event-name"],
)
def test_every_key_must_match(record: dict[str, Any]) -> None:
    assert matches(PENDING_DEPLOYMENT, record) is False


def test_alternatives_in_a_leaf_are_ored() -> None:
    pattern = _status("succeeded", "pending")
    assert matches(pattern, INSERT) is True
    assert matches(pattern, _insert(status="failed")) is False


def test_pattern_ignores_fields_it_does_not_name() -> None:
    assert matches({"eventName": ["INSERT"]}, INSERT) is True
    assert matches({"eventName": ["INSERT"]}, TTL_REMOVE) is False


def test_missing_key_fails() -> None:
    assert matches({"dynamodb": {"NewImage": {"owner": {"S": ["alice"]}}}}, INSERT) is False
    assert matches({"dynamodb": {"OldImage": {"entity": {"S": ["Deployment"]}}}}, INSERT) is False


def test_nested_pattern_against_a_scalar_value_fails() -> None:
    assert matches({"eventName": {"S": ["INSERT"]}}, INSERT) is False


def test_leaf_pattern_against_an_object_value_fails() -> None:
    # NewImage.status holds {"S": ...}: an intermediate node, not a value.
    assert matches({"dynamodb": {"NewImage": {"status": ["pending"]}}}, INSERT) is False


# --- TTL deletions --------------------------------------------------------------------------------


def test_ttl_remove_matches_service_principal_pattern() -> None:
    assert matches(TTL_PATTERN, TTL_REMOVE) is True


def test_user_remove_without_user_identity_does_not_match_ttl_pattern() -> None:
    assert matches(TTL_PATTERN, USER_REMOVE) is False


def test_ttl_pattern_rejects_other_principal() -> None:
    record = {**TTL_REMOVE, "userIdentity": {"type": "Service", "principalId": "someone.example.com"}}
    assert matches(TTL_PATTERN, record) is False


def test_user_remove_selected_by_absent_user_identity() -> None:
    pattern = {"eventName": ["REMOVE"], "userIdentity": {"type": [{"exists": False}]}}
    assert matches(pattern, USER_REMOVE) is True
    assert matches(pattern, TTL_REMOVE) is False


# --- literals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alternative", "value", "expected"),
    [
        ("pending", "pending", True),
        ("pending", "Pending", False),
        ("pending", "pending ", False),
        (5, 5, True),
        (5, 5.0, True),
        (5.5, 5.5, True),
        (5, 6, False),
        (5, "5", False),
        ("5", 5, False),
        (True, True, True),
        (True, False, False),
        (True, 1, False),
        (1, True, False),
        (False, 0, False),
        (None, None, True),
        (None, "", False),
        ("", "", True),
        ("", None, False),
    ],
)
def test_literal_exact_match(alternative: Any, value: Any, expected: bool) -> None:
    assert matches({"v": [alternative]}, {"v": value}) is expected


# --- prefix / suffix / equals-ignore-case ---------------------------------------------------------


def test_prefix() -> None:
    assert matches(_status({"prefix": "pend"}), INSERT) is True
    assert matches(_status({"prefix": "PEND"}), INSERT) is False
    assert matches(_status({"prefix": "ending"}), INSERT) is False


def test_prefix_only_matches_strings() -> None:
    assert matches({"v": [{"prefix": "1"}]}, {"v": 12}) is False
    assert matches({"v": [{"prefix": "1"}]}, {"v": "12"}) is True


def test_prefix_ignoring_case() -> None:
    pattern = _status({"prefix": {"equals-ignore-case": "PEND"}})
    assert matches(pattern, INSERT) is True
    assert matches(pattern, _insert(status="failed")) is False


def test_suffix() -> None:
    assert matches(_status({"suffix": "ing"}), INSERT) is True
    assert matches(_status({"suffix": "ING"}), INSERT) is False
    assert matches(_status({"suffix": "pend"}), INSERT) is False


def test_suffix_ignoring_case() -> None:
    pattern = _status({"suffix": {"equals-ignore-case": "ING"}})
    assert matches(pattern, INSERT) is True
    assert matches(pattern, _insert(status="failed")) is False


def test_equals_ignore_case() -> None:
    assert matches(_status({"equals-ignore-case": "PENDING"}), INSERT) is True
    assert matches(_status({"equals-ignore-case": "pendin"}), INSERT) is False
    assert matches({"v": [{"equals-ignore-case": "5"}]}, {"v": 5}) is False


# --- wildcard -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wildcard", "value", "expected"),
    [
        ("DEP#*", "DEP#1", True),
        ("DEP#*", "DEP#", True),
        ("DEP#*", "UPLOAD#1", False),
        ("*#1", "DEP#1", True),
        ("*#1", "DEP#12", False),
        ("D*#*2", "DEP#12", True),
        ("D*#*2", "DEP#13", False),
        ("a.c", "abc", False),
        ("a\\*c", "a*c", True),
        ("a\\*c", "abc", False),
        ("a\\\\c", "a\\c", True),
        ("exact", "exact", True),
        ("exact", "exactly", False),
    ],
)
def test_wildcard(wildcard: str, value: str, expected: bool) -> None:
    assert matches({"v": [{"wildcard": wildcard}]}, {"v": value}) is expected


def test_wildcard_only_matches_strings() -> None:
    assert matches({"v": [{"wildcard": "*"}]}, {"v": 1}) is False
    assert matches({"v": [{"wildcard": "*"}]}, {"v": "1"}) is True


# --- anything-but ---------------------------------------------------------------------------------


def test_anything_but_single_string() -> None:
    assert matches(_status({"anything-but": "pending"}), INSERT) is False
    assert matches(_status({"anything-but": "pending"}), _insert(status="failed")) is True


def test_anything_but_list_of_strings() -> None:
    pattern = _status({"anything-but": ["pending", "running"]})
    assert matches(pattern, INSERT) is False
    assert matches(pattern, _insert(status="running")) is False
    assert matches(pattern, _insert(status="succeeded")) is True


def test_anything_but_numbers_compare_numerically() -> None:
    pattern = {"v": [{"anything-but": [100, 200]}]}
    assert matches(pattern, {"v": 100.0}) is False
    assert matches(pattern, {"v": 150}) is True
    assert matches({"v": [{"anything-but": 100}]}, {"v": 100}) is False


def test_anything_but_prefix() -> None:
    pattern = _status({"anything-but": {"prefix": "pend"}})
    assert matches(pattern, INSERT) is False
    assert matches(pattern, _insert(status="failed")) is True


def test_anything_but_suffix() -> None:
    pattern = _status({"anything-but": {"suffix": "ing"}})
    assert matches(pattern, INSERT) is False
    assert matches(pattern, _insert(status="failed")) is True


def test_anything_but_equals_ignore_case() -> None:
    pattern = _status({"anything-but": {"equals-ignore-case": ["PENDING", "Running"]}})
    assert matches(pattern, INSERT) is False
    assert matches(pattern, _insert(status="running")) is False
    assert matches(pattern, _insert(status="failed")) is True


def test_anything_but_wildcard() -> None:
    pattern = {"key": [{"anything-but": {"wildcard": "*/lib/*"}}]}
    assert matches(pattern, {"key": "src/lib/a.py"}) is False
    assert matches(pattern, {"key": "src/app/a.py"}) is True


def test_anything_but_needs_the_field() -> None:
    pattern = {"dynamodb": {"NewImage": {"owner": {"S": [{"anything-but": "alice"}]}}}}
    assert matches(pattern, INSERT) is False
    assert matches(pattern, _insert(owner={"S": "bob"})) is True


# --- numeric --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        ("0", False),
        ("0.0001", True),
        ("2.5", True),
        ("5", True),
        ("5.0", True),
        ("5.01", False),
        ("-1", False),
    ],
)
def test_numeric_range_on_dynamodb_number_strings(n: str, expected: bool) -> None:
    assert matches(_size({"numeric": [">", 0, "<=", 5]}), _with_size(n)) is expected


@pytest.mark.parametrize(
    ("condition", "n", "expected"),
    [
        (["=", 100], "100", True),
        (["=", 100], "1E+2", True),
        (["=", 100], "100.5", False),
        ([">=", 10], "10", True),
        ([">=", 10], "9.99", False),
        ([">", 10], "10", False),
        ([">", 10], "11", True),
        (["<", 10], "9", True),
        (["<", 10], "10", False),
        (["<=", 10], "10", True),
        (["<=", 10], "10.5", False),
        ([">=", 1, "<", 2], "1", True),
        ([">=", 1, "<", 2], "2", False),
        (["<", 2, ">=", 1], "1.5", True),
        (["=", 0.5], ".5", True),
    ],
)
def test_numeric_operators(condition: list[Any], n: str, expected: bool) -> None:
    assert matches(_size({"numeric": condition}), _with_size(n)) is expected


def test_numeric_on_json_numbers() -> None:
    pattern = {"SizeBytes": [{"numeric": [">", 20]}]}
    assert matches(pattern, {"SizeBytes": 26}) is True
    assert matches(pattern, {"SizeBytes": 26.5}) is True
    assert matches(pattern, {"SizeBytes": 19}) is False


@pytest.mark.parametrize("value", ["abc", "", "5 ", "nan", "inf", "1_000", "0x10", True, None])
def test_numeric_rejects_values_that_are_not_numbers(value: Any) -> None:
    assert matches({"v": [{"numeric": [">", -1e9]}]}, {"v": value}) is False


def test_numeric_needs_the_field() -> None:
    assert matches(_size({"numeric": [">", 0]}), INSERT) is False


# --- exists ---------------------------------------------------------------------------------------


def test_exists_true() -> None:
    pattern = {"dynamodb": {"NewImage": {"status": {"S": [{"exists": True}]}}}}
    assert matches(pattern, INSERT) is True
    assert matches({"dynamodb": {"NewImage": {"owner": {"S": [{"exists": True}]}}}}, INSERT) is False


def test_exists_false() -> None:
    pattern = {"dynamodb": {"NewImage": {"owner": {"S": [{"exists": False}]}}}}
    assert matches(pattern, INSERT) is True
    assert matches(pattern, _insert(owner={"S": "alice"})) is False


def test_exists_only_sees_leaves() -> None:
    # NewImage.status is an object, so as in Lambda it does not count as an existing value.
    assert matches({"dynamodb": {"NewImage": {"status": [{"exists": True}]}}}, INSERT) is False
    assert matches({"dynamodb": {"NewImage": {"status": [{"exists": False}]}}}, INSERT) is True


def test_exists_true_matches_null_and_empty_string() -> None:
    assert matches({"v": [{"exists": True}]}, {"v": None}) is True
    assert matches({"v": [{"exists": True}]}, {"v": ""}) is True
    assert matches({"v": [{"exists": True}]}, {"w": ""}) is False


def test_exists_false_combined_with_a_value() -> None:
    pattern = _status("pending", {"exists": False})
    assert matches(pattern, INSERT) is True
    assert matches(pattern, _insert(status="failed")) is False
    assert matches(pattern, {"dynamodb": {"NewImage": {}}}) is True


def test_exists_on_empty_array_is_absent() -> None:
    assert matches({"v": [{"exists": True}]}, {"v": []}) is False
    assert matches({"v": [{"exists": False}]}, {"v": []}) is True


# --- arrays ---------------------------------------------------------------------------------------


def test_array_value_matches_when_any_element_matches() -> None:
    assert matches({"tags": ["b"]}, {"tags": ["a", "b"]}) is True
    assert matches({"tags": ["c"]}, {"tags": ["a", "b"]}) is False
    assert matches({"tags": [{"prefix": "x"}]}, {"tags": ["a", "xy"]}) is True
    assert matches({"n": [{"numeric": [">", 5]}]}, {"n": [1, [2, 9]]}) is True


def test_anything_but_on_array_matches_when_any_element_differs() -> None:
    assert matches({"tags": [{"anything-but": "a"}]}, {"tags": ["a", "b"]}) is True
    assert matches({"tags": [{"anything-but": "a"}]}, {"tags": ["a", "a"]}) is False


def test_dynamodb_list_attribute_of_objects() -> None:
    record = _insert(targets={"L": [{"S": "amplify"}, {"S": "cloudflare"}]})
    assert matches({"dynamodb": {"NewImage": {"targets": {"L": {"S": ["cloudflare"]}}}}}, record) is True
    assert matches({"dynamodb": {"NewImage": {"targets": {"L": {"S": ["netlify"]}}}}}, record) is False


def test_array_of_objects_matches_within_one_element() -> None:
    record = {"people": [{"first": "John", "last": "Doe"}, {"first": "Anna", "last": "Smith"}]}
    assert matches({"people": {"first": ["Anna"], "last": ["Smith"]}}, record) is True
    assert matches({"people": {"first": ["Anna"], "last": ["Doe"]}}, record) is False


# --- several patterns: Lambda ORs the Filters -----------------------------------------------------


def test_no_patterns_let_every_record_through() -> None:
    assert matches_any([], INSERT) is True
    assert matches_any((), TTL_REMOVE) is True


def test_any_pattern_may_match() -> None:
    patterns = [TTL_PATTERN, PENDING_DEPLOYMENT]
    assert matches_any(patterns, TTL_REMOVE) is True
    assert matches_any(patterns, INSERT) is True
    assert matches_any(patterns, USER_REMOVE) is False
    assert matches_any(patterns, _insert(status="failed")) is False


def test_a_mappings_filters_compiled_once_answer_as_matches_any_and_refuse_a_malformed_one_at_once() -> None:
    patterns = [TTL_PATTERN, PENDING_DEPLOYMENT]
    admits = any_of(patterns)
    for record in (TTL_REMOVE, INSERT, USER_REMOVE, _insert(status="failed")):
        assert admits(record) is matches_any(patterns, record)
    assert any_of([])(USER_REMOVE) is True
    with pytest.raises(ValueError, match="unknown operator 'contains'"):
        any_of([TTL_PATTERN, {"dynamodb": {"Keys": {"pk": {"S": [{"contains": "x"}]}}}}])


def test_single_pattern() -> None:
    assert matches_any([TTL_PATTERN], TTL_REMOVE) is True
    assert matches_any([TTL_PATTERN], INSERT) is False


def test_matches_any_validates_every_pattern() -> None:
    with pytest.raises(ValueError, match="unknown operator 'contains'"):
        matches_any([{"eventName": ["INSERT"]}, {"eventName": [{"contains": "SER"}]}], INSERT)


# --- malformed patterns ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ({"eventName": "INSERT"}, r"eventName: a leaf must be a list"),
        ({"dynamodb": {"NewImage": {"status": {"S": "pending"}}}}, r"dynamodb\.NewImage\.status\.S: a leaf"),
        ({"v": 5}, "a leaf must be a list"),
        ({"v": None}, "a leaf must be a list"),
        ({"v": True}, "a leaf must be a list"),
        ({"v": []}, "empty list of alternatives"),
        ({"v": [["a"]]}, "nested lists"),
        ({"v": {}}, "empty object"),
        ({}, "empty object"),
        ({"v": [{"contains": "x"}]}, "unknown operator 'contains'"),
        ({"v": [{"Prefix": "x"}]}, "unknown operator 'Prefix'"),
        ({"v": [{}]}, "exactly one operator"),
        ({"v": [{"prefix": "a", "suffix": "b"}]}, "exactly one operator"),
        ({"v": [{"prefix": 1}]}, "'prefix' takes a string"),
        ({"v": [{"prefix": {"suffix": "x"}}]}, "'prefix' takes a string or"),
        ({"v": [{"suffix": None}]}, "'suffix' takes a string"),
        ({"v": [{"equals-ignore-case": ["a"]}]}, "'equals-ignore-case' takes a string"),
        ({"v": [{"wildcard": "a**b"}]}, "consecutive"),
        ({"v": [{"wildcard": "a\\b"}]}, "backslash"),
        ({"v": [{"wildcard": "a\\"}]}, "backslash"),
        ({"v": [{"exists": "true"}]}, "'exists' takes true or false"),
        ({"v": [{"exists": 1}]}, "'exists' takes true or false"),
        ({"v": [{"anything-but": []}]}, "at least one value"),
        ({"v": [{"anything-but": ["a", 1]}]}, "all strings or all numbers"),
        ({"v": [{"anything-but": [True]}]}, "all strings or all numbers"),
        ({"v": [{"anything-but": None}]}, "'anything-but' takes"),
        ({"v": [{"anything-but": False}]}, "'anything-but' takes"),
        ({"v": [{"anything-but": {"numeric": [">", 1]}}]}, "cannot wrap 'numeric'"),
        ({"v": [{"anything-but": {"exists": True}}]}, "cannot wrap 'exists'"),
        ({"v": [{"anything-but": {"nope": "x"}}]}, "unknown operator 'nope'"),
        ({"v": [{"anything-but": {"prefix": ["a"]}}]}, "takes a string"),
        ({"v": [{"numeric": 5}]}, "'numeric' takes"),
        ({"v": [{"numeric": []}]}, "'numeric' takes"),
        ({"v": [{"numeric": [">", 0, "<"]}]}, "'numeric' takes"),
        ({"v": [{"numeric": ["!=", 0]}]}, "bad 'numeric'"),
        ({"v": [{"numeric": ["=", 1, "<", 2]}]}, "bad 'numeric'"),
        ({"v": [{"numeric": [">", 1, ">=", 2]}]}, "bad 'numeric'"),
        ({"v": [{"numeric": ["<", 1, "<=", 2]}]}, "bad 'numeric'"),
        ({"v": [{"numeric": [">", "0"]}]}, "bound must be a number"),
        ({"v": [{"numeric": [">", True]}]}, "bound must be a number"),
        ({"v": [{"numeric": [0, 1]}]}, "operator must be a string"),
        ({"v": [{"numeric": [">", 5, "<", 1]}]}, "empty range"),
        ({"v": [{"numeric": [">", 5, "<=", 5]}]}, "empty range"),
        ({"v": [float("inf")]}, "finite"),
        ({"$or": [{"a": ["x"]}, {"b": ["y"]}]}, r"'\$or' is not part of Lambda"),
    ],
)
def test_malformed_pattern_raises(pattern: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        matches(pattern, {"v": "x", "eventName": "INSERT"})


def test_pattern_must_be_an_object() -> None:
    with pytest.raises(ValueError, match="must be a JSON object"):
        matches(["INSERT"], INSERT)  # type: ignore[arg-type]


def test_malformed_pattern_raises_even_when_an_earlier_key_already_fails() -> None:
    pattern = {"eventName": ["MODIFY"], "dynamodb": {"NewImage": {"status": {"S": [{"numeric": "> 5"}]}}}}
    with pytest.raises(ValueError, match=r"dynamodb\.NewImage\.status\.S: 'numeric' takes"):
        matches(pattern, INSERT)


def test_inclusive_single_point_range_is_valid() -> None:
    pattern = {"v": [{"numeric": [">=", 5, "<=", 5]}]}
    assert matches(pattern, {"v": 5}) is True
    assert matches(pattern, {"v": 5.1}) is False
