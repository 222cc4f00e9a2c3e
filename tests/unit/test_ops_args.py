"""Arguments of operations, checked against their signatures the same way for every caller."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamsync.peer import ops
from roamsync.peer.api.routes import ROUTES
from roamsync.peer.ops.args import bind
from roamsync.schema import InvalidArgumentError

BAD_SECONDS = ["abc", "nan", math.nan, math.inf, -math.inf, 1e308, -1, 0, True, None, {"s": 1}, [1]]


@pytest.mark.parametrize("within", BAD_SECONDS)
def test_offline_refuses_a_timeout_that_is_no_number_of_seconds(within: object) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        bind(ops.offline, {"within": within})
    assert caught.value.argument == "within"


@pytest.mark.parametrize("ttl", ["nan", math.nan, math.inf, 1e308, -5, "24", False])
def test_invite_refuses_a_ttl_that_is_not_finite_and_bounded(ttl: object) -> None:
    with pytest.raises(InvalidArgumentError, match="ttl"):
        bind(ops.invite, {"role": "travel", "ttl": ttl})


def test_good_arguments_come_back_converted() -> None:
    assert bind(ops.offline, {"within": 5}) == {"within": 5.0}
    assert bind(ops.online, {"policy": "local"}) == {"policy": "local"}
    assert bind(ops.conflicts, {"pending": "true"}, text=True) == {"pending": True}
    assert bind(ops.resolve, {"record": "r", "field": "f", "pick": 1}) == {
        "record": "r",
        "field": "f",
        "pick": 1,
    }
    fields = {"name": "Acme", "customer": True, "phone": None, "n": 1.5}
    assert bind(ops.create, {"module": "contacts", "fields": fields})["fields"] == fields


@pytest.mark.parametrize(
    ("op", "raw", "argument"),
    [
        (ops.online, {"policy": "loudest"}, "policy"),
        (ops.online, {"policy": ["local"]}, "policy"),
        (ops.disconnect, {}, "device"),
        (ops.disconnect, {"device": {"name": "x"}}, "device"),
        (ops.create, {"module": "contacts", "fields": ["name", "x"]}, "fields"),
        (ops.create, {"module": "contacts", "fields": {"name": {"a": 1}}}, "fields.name"),
        (ops.create, {"module": "contacts", "fields": {"n": math.nan}}, "fields.n"),
        (ops.update, {"module": "contacts", "id": 7, "fields": {}}, "id"),
        (ops.resolve, {"record": "r", "field": "f", "pick": 1.5}, "pick"),
        (ops.resolve, {"record": "r", "field": "f", "value": {"x": 1}}, "value"),
        (ops.status, {"verbose": True}, "verbose"),
    ],
)
def test_bad_arguments_name_the_argument(op: Any, raw: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        bind(op, raw)
    assert caught.value.argument == argument


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.sampled_from(["nan", "inf", "1e308", "central", "travel", "contacts", "true"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    route=st.sampled_from(ROUTES),
    raw=st.dictionaries(
        st.sampled_from(
            [
                "module",
                "id",
                "fields",
                "within",
                "force",
                "policy",
                "ttl",
                "role",
                "device",
                "record",
                "field",
                "pick",
                "value",
                "pending",
                "number",
                "name",
                "email",
                "x",
            ]
        ),
        json_values,
        max_size=4,
    ),
    text=st.booleans(),
)
def test_any_json_is_bound_or_refused_by_name(route: Any, raw: dict[str, Any], text: bool) -> None:
    """Whatever a body holds, binding returns well-typed arguments or names the bad one:
    nothing else escapes (the API turns InvalidArgumentError into a 400)."""
    try:
        bound = bind(route.op, raw, text=text)
    except InvalidArgumentError as exc:
        refused: InvalidArgumentError | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.argument
        return
    for value in bound.values():
        if isinstance(value, float):
            assert math.isfinite(value)
