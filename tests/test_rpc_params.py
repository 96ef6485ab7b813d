"""Typed params: JSON -> params Struct, its error reports, the registry and OpenRPC."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal

import jsonschema
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.events import EventBus, register_event_methods
from daemon.rpc import (
    UNSET,
    CallContext,
    Int64,
    InvalidParams,
    JSONValue,
    Meta,
    Money,
    Params,
    Registry,
    Text,
    UnsetType,
    build_openrpc,
    pattern,
    provided,
)
from daemon.rpc.errors import ProviderFailure, ValidationFailed
from daemon.rpc.explain import explain
from daemon.rpc.validation import compile_params, decode_params
from daemon.rpc.wire import DEFAULT_MAX_STRING, MAX_DEPTH
from providers.errors import FieldError, rejected
from tests.support.fuzz_counts import fuzz_settings, tried


class Line(Params):
    account: Annotated[str, Meta(min_length=1, max_length=20)]
    debit: Money | None = None
    credit: Money | None = None
    vat_code: Text | None = None


class ConfigurationCreate(Params):
    """Create a configuration."""

    authorisation_id: Int64
    administration_id: Text
    frequency: Annotated[Literal["daily", "monthly"], Meta(description="Entry per period")]
    ledger_id: Text
    start_date: date
    end_date: date | None = None
    delay_days: Annotated[int, Meta(ge=0, le=14)] = 0
    automatic: bool = False


class ConfigurationUpdate(Params):
    id: Int64
    end_date: date | UnsetType | None = UNSET
    delay_days: Annotated[int, Meta(ge=0, le=14)] | UnsetType = UNSET


class Everything(Params):
    name: Annotated[str, Meta(max_length=200)]
    amount: Money
    when: datetime
    ratio: float = 0.5
    code: Annotated[
        str, Meta(max_length=3), pattern("[A-Z]{3}", "must be three capital letters")
    ] = "EUR"
    tags: list[Text] = []
    limits: dict[str, Int64] = {}
    lines: list[Line] = []
    extra: JSONValue = None
    choice: Int64 | Text | None = None
    from_: Text = msgspec.field(default="", name="from")


class Tree(Params):
    name: Text
    children: list[Tree] = []


def convert_params(cls: type[msgspec.Struct] | None, raw: Any) -> Any:
    return decode_params(None if cls is None else compile_params(cls), raw)


GOOD = {
    "authorisation_id": 3,
    "administration_id": "adm-1",
    "frequency": "monthly",
    "ledger_id": "MEMO",
    "start_date": "2024-01-01",
}


def errors_of(cls: type, raw: Any) -> list[dict[str, str]]:
    with pytest.raises(InvalidParams) as caught:
        convert_params(cls, raw)
    error = caught.value.to_json()
    assert error["code"] == -32602 and error["data"]["name"] == "InvalidParams"
    assert error["message"].startswith("Invalid parameters: ")
    return error["data"]["errors"]


# --- conversion ---------------------------------------------------------------------------------


def test_object_params_become_the_dataclass_with_defaults() -> None:
    p = convert_params(ConfigurationCreate, GOOD)
    assert p == ConfigurationCreate(3, "adm-1", "monthly", "MEMO", date(2024, 1, 1))
    assert isinstance(p.start_date, date)
    assert p.delay_days == 0 and p.end_date is None


def test_positional_params_follow_field_order() -> None:
    p = convert_params(ConfigurationCreate, [3, "adm-1", "daily", "MEMO", "2024-02-29"])
    assert p.frequency == "daily" and p.start_date == date(2024, 2, 29)
    assert errors_of(ConfigurationCreate, list(range(9))) == [
        {"field": "params", "message": "too many positional parameters (at most 8)"}
    ]


def test_absent_params_mean_an_empty_object() -> None:
    assert convert_params(Tree, {"name": "x"}) == Tree("x")
    assert errors_of(Tree, None) == [{"field": "name", "message": "is required"}]
    assert convert_params(None, None) is None
    assert convert_params(None, {}) is None
    assert convert_params(None, []) is None


def test_missing_unknown_and_wrong_fields_are_all_reported() -> None:
    errors = errors_of(
        ConfigurationCreate,
        {"authorisation_id": "3", "frequency": "weekly", "start_date": "01-02-2024", "colour": 1},
    )
    assert errors == [
        {"field": "authorisation_id", "message": "must be an integer"},
        {"field": "administration_id", "message": "is required"},
        {"field": "frequency", "message": "must be one of: daily, monthly"},
        {"field": "ledger_id", "message": "is required"},
        {"field": "start_date", "message": "must be a date YYYY-MM-DD"},
        {"field": "colour", "message": "unknown parameter"},
    ]


def test_bool_is_not_an_int_and_int_is_not_a_bool() -> None:
    assert errors_of(ConfigurationCreate, {**GOOD, "authorisation_id": True}) == [
        {"field": "authorisation_id", "message": "must be an integer"}
    ]
    assert errors_of(ConfigurationCreate, {**GOOD, "automatic": 1}) == [
        {"field": "automatic", "message": "must be true or false"}
    ]
    assert convert_params(ConfigurationCreate, {**GOOD, "automatic": True}).automatic is True


def test_range_constraint() -> None:
    assert convert_params(ConfigurationCreate, {**GOOD, "delay_days": 14}).delay_days == 14
    assert errors_of(ConfigurationCreate, {**GOOD, "delay_days": 15}) == [
        {"field": "delay_days", "message": "must be between 0 and 14"}
    ]
    assert errors_of(ConfigurationCreate, {**GOOD, "delay_days": -1})[0]["field"] == "delay_days"


def test_dates_must_be_iso_and_real() -> None:
    assert errors_of(ConfigurationCreate, {**GOOD, "start_date": "2023-02-29"}) == [
        {"field": "start_date", "message": "is not a valid calendar date"}
    ]
    for bad in ["20240101", "2024-1-1", 20240101, "2024-01-01T00:00"]:
        assert errors_of(ConfigurationCreate, {**GOOD, "start_date": bad}) == [
            {"field": "start_date", "message": "must be a date YYYY-MM-DD"}
        ]


def test_optional_accepts_null() -> None:
    p = convert_params(ConfigurationCreate, {**GOOD, "end_date": None})
    assert p.end_date is None
    p = convert_params(ConfigurationCreate, {**GOOD, "end_date": "2024-12-31"})
    assert p.end_date == date(2024, 12, 31)


def test_decimal_only_from_a_string() -> None:
    base = {"name": "n", "when": "2024-05-01T13:00:00+02:00"}
    p = convert_params(Everything, {**base, "amount": "12.50"})
    assert p.amount == Decimal("12.50") and str(p.amount) == "12.50"
    assert convert_params(Everything, {**base, "amount": "-0.01"}).amount == Decimal("-0.01")
    for bad in [12.5, 12, "12,50", "1e3", "NaN", "Infinity", "", " 1.00", True]:
        assert errors_of(Everything, {**base, "amount": bad}) == [
            {"field": "amount", "message": 'must be a decimal number as a string, like "12.50"'}
        ], bad


def test_datetime_float_and_pattern() -> None:
    base = {"name": "n", "amount": "1.00"}
    p = convert_params(Everything, {**base, "when": "2024-05-01T13:00:00+02:00", "ratio": 2})
    assert p.when == datetime(2024, 5, 1, 13, tzinfo=timezone(timedelta(hours=2)))
    assert p.ratio == 2.0 and isinstance(p.ratio, float)
    errors = errors_of(Everything, {**base, "when": "yesterday", "ratio": "1", "code": "eur"})
    assert errors == [
        {
            "field": "when",
            "message": "must be an ISO 8601 date and time, like 2024-05-01T13:00:00+02:00",
        },
        {"field": "ratio", "message": "must be a number"},
        {"field": "code", "message": "must be three capital letters"},
    ]


def test_nested_dataclasses_report_field_paths() -> None:
    base = {"name": "n", "amount": "1.00", "when": "2024-05-01T13:00:00"}
    lines = [{"account": "8000", "debit": "10.00"}] * 3 + [{"account": "", "debit": 10}]
    errors = errors_of(Everything, {**base, "lines": lines, "limits": {"a b": "x", "ok": 1}})
    assert errors == [
        {"field": 'limits["a b"]', "message": "must be an integer"},
        {"field": "lines[3].account", "message": "must not be empty"},
        {
            "field": "lines[3].debit",
            "message": 'must be a decimal number as a string, like "12.50"',
        },
    ]
    p = convert_params(Everything, {**base, "lines": lines[:1], "tags": ["a"], "limits": {"x": 2}})
    assert p.lines == [Line("8000", Decimal("10.00"))]
    assert p.tags == ["a"] and p.limits == {"x": 2}
    assert errors_of(Everything, {**base, "lines": [{"account": "1", "nope": 1}]}) == [
        {"field": "lines[0].nope", "message": "unknown parameter"}
    ]


def test_union_any_and_keyword_fields() -> None:
    base = {"name": "n", "amount": "1.00", "when": "2024-05-01T13:00:00"}
    assert convert_params(Everything, {**base, "choice": 3}).choice == 3
    assert convert_params(Everything, {**base, "choice": "three"}).choice == "three"
    assert errors_of(Everything, {**base, "choice": [1]}) == [
        {"field": "choice", "message": "must be an integer or a string"}
    ]
    assert convert_params(Everything, {**base, "extra": {"free": [1, "form"]}}).extra == {
        "free": [1, "form"]
    }
    assert convert_params(Everything, {**base, "from": "2024"}).from_ == "2024"


def test_strings_are_capped_by_default_and_by_maxlen() -> None:
    base = {"amount": "1.00", "when": "2024-05-01T13:00:00"}
    assert errors_of(Everything, {**base, "name": "x" * 201}) == [
        {"field": "name", "message": "must have at most 200 characters"}
    ]
    assert convert_params(Everything, {**base, "name": "n", "tags": ["x" * DEFAULT_MAX_STRING]})
    assert errors_of(Everything, {**base, "name": "n", "tags": ["x" * (DEFAULT_MAX_STRING + 1)]})


def test_nesting_depth_is_capped() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    base = {"name": "n", "amount": "1.00", "when": "2024-05-01T13:00:00"}
    assert errors_of(Everything, {**base, "extra": deep}) == [
        {"field": "extra", "message": "is nested too deeply"}
    ]
    tree: dict[str, Any] = {"name": "leaf"}
    for _ in range(MAX_DEPTH + 5):
        tree = {"name": "n", "children": [tree]}
    assert any("nested too deeply" in e["message"] for e in errors_of(Tree, tree))


def test_provided_tells_null_from_absent() -> None:
    p = convert_params(ConfigurationUpdate, {"id": 3, "end_date": None})
    assert provided(p) == {"id": 3, "end_date": None}
    assert provided(convert_params(ConfigurationUpdate, [3])) == {"id": 3}
    assert errors_of(ConfigurationUpdate, {"id": 3, "delay_days": None}) == [
        {"field": "delay_days", "message": "must be an integer"}
    ]


def test_params_that_are_neither_object_nor_array() -> None:
    assert errors_of(Tree, "x") == [{"field": "params", "message": "must be an object or an array"}]


# --- errors -------------------------------------------------------------------------------------


def test_validation_failed_and_provider_failure_shapes() -> None:
    error = ValidationFailed(
        "The end date is before the start date.",
        errors=[{"field": "end_date", "message": "must be on or after start_date"}],
    ).to_json()
    assert error == {
        "code": -32002,
        "message": "The end date is before the start date.",
        "data": {
            "errors": [{"field": "end_date", "message": "must be on or after start_date"}],
            "name": "ValidationFailed",
        },
    }
    failure = ProviderFailure.from_provider_error(
        rejected(
            "odoo", "Account 9999 does not exist.", (FieldError("lines[0].account", "unknown"),)
        )
    ).to_json()
    assert failure["code"] == -32004
    assert failure["data"] == {
        "provider": "odoo",
        "kind": "rejected",
        "retryable": False,
        "retry_after": None,
        "errors": [{"field": "lines[0].account", "message": "unknown"}],
        "name": "ProviderError",
    }


# --- registry -----------------------------------------------------------------------------------


def test_registry_reads_params_and_docs_from_the_handler() -> None:
    registry = Registry()

    @registry.method("configurations.create", result=dict[str, JSONValue])
    async def create(ctx: CallContext, p: ConfigurationCreate) -> dict[str, Any]:
        """Create a configuration.

        It starts inactive unless ``activate`` is set.
        """
        return {}

    @registry.method("daemon.status", summary="Daemon health")
    async def status(ctx: CallContext) -> dict[str, Any]:
        return {}

    info = registry.get("configurations.create")
    assert info is not None and info.params_type is ConfigurationCreate
    assert info.summary == "Create a configuration."
    assert "starts inactive" in info.description
    status_info = registry.get("daemon.status")
    assert status_info is not None and status_info.params_type is None
    assert status_info.summary == "Daemon health"


def test_registry_refuses_mistakes_at_import_time() -> None:
    registry = Registry()

    class Bad(Params):
        when: set[int]

    with pytest.raises(TypeError, match="unsupported"):
        registry.add("x.bad", _handler_with(Bad))

    class Unbounded(Params):
        text: str

    with pytest.raises(TypeError, match="max_length"):
        registry.add("x.unbounded", _handler_with(Unbounded))

    class Big(Params):
        count: int

    with pytest.raises(TypeError, match="ge and le"):
        registry.add("x.big", _handler_with(Big))

    class Lenient(msgspec.Struct):
        name: Text

    with pytest.raises(TypeError, match="forbid unknown fields"):
        registry.add("x.lenient", _handler_with(Lenient))

    class FloatMoney(Params):
        amount: Decimal

    with pytest.raises(TypeError, match="Money"):
        registry.add("x.money", _handler_with(FloatMoney))
    with pytest.raises(TypeError, match="async"):
        registry.add("x.sync", lambda ctx: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="reserved"):
        registry.add("rpc.mine", _handler_with(Tree))
    registry.add("x.ok", _handler_with(Tree))
    with pytest.raises(ValueError, match="twice"):
        registry.add("x.ok", _handler_with(Tree))

    class WrongConstraint(Params):
        flag: Annotated[bool, Meta(max_length=3)]

    with pytest.raises(TypeError, match="max_length"):
        registry.add("x.constraint", _handler_with(WrongConstraint))


def _handler_with(params_type: type) -> Any:
    async def handler(ctx: CallContext, p: Any) -> None:
        return None

    handler.__annotations__["p"] = params_type
    return handler


# --- OpenRPC ------------------------------------------------------------------------------------


def _full_registry() -> Registry:
    registry = Registry()

    @registry.method("configurations.create", result=dict[str, JSONValue])
    async def create(ctx: CallContext, p: ConfigurationCreate) -> dict[str, Any]:
        """Create a configuration."""
        return {}

    @registry.method("everything.take")
    async def take(ctx: CallContext, p: Everything) -> None:
        return None

    @registry.method("trees.plant")
    async def plant(ctx: CallContext, p: Tree) -> None:
        return None

    @registry.method("daemon.status")
    async def status(ctx: CallContext) -> dict[str, Any]:
        return {}

    register_event_methods(registry, EventBus())
    return registry


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft7Validator:
    """Validate against ``schema`` with the document's ``#/components/...`` refs resolvable."""
    return jsonschema.Draft7Validator({**schema, "components": document["components"]})


def test_openrpc_document_describes_every_method_and_param() -> None:
    registry = _full_registry()
    document = build_openrpc(registry, title="bexsyncd", version="1.2.3")
    assert document["openrpc"] == "1.2.6"
    assert document["info"] == {"title": "bexsyncd", "version": "1.2.3"}
    methods = {m["name"]: m for m in document["methods"]}
    assert set(methods) == set(registry.names())
    for method in document["methods"]:
        assert isinstance(method["params"], list)
        assert {"name", "schema"} <= set(method["result"])
        for param in method["params"]:
            assert {"name", "schema", "required"} <= set(param)
            jsonschema.Draft7Validator.check_schema(param["schema"])
    create = {p["name"]: p for p in methods["configurations.create"]["params"]}
    assert list(create) == [
        "authorisation_id",
        "administration_id",
        "frequency",
        "ledger_id",
        "start_date",
        "end_date",
        "delay_days",
        "automatic",
    ]
    assert create["frequency"]["schema"]["enum"] == ["daily", "monthly"]
    assert create["frequency"]["description"] == "Entry per period"
    assert create["start_date"] == {
        "name": "start_date",
        "required": True,
        "schema": {"type": "string", "format": "date"},
    }
    assert create["delay_days"]["schema"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 14,
        "default": 0,
    }
    assert create["end_date"]["required"] is False
    assert methods["configurations.create"]["summary"] == "Create a configuration."
    assert methods["daemon.status"]["params"] == []
    take = {p["name"]: p for p in methods["everything.take"]["params"]}
    assert take["name"]["schema"]["maxLength"] == 200
    assert "from" in take
    assert document["components"]["schemas"]["Line"]["required"] == ["account"]
    assert methods["events.subscribe"]["params"][0]["name"] == "topics"
    for ref in _refs(document):
        assert ref.startswith("#/components/")
        target: Any = document
        for part in ref[2:].split("/"):
            target = target[part]
        assert target, ref


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_openrpc_schemas_agree_with_the_converter() -> None:
    """What the converter accepts validates against the published schema, and vice versa."""
    document = build_openrpc(_full_registry(), title="t", version="1")
    method = next(m for m in document["methods"] if m["name"] == "everything.take")
    schema = {
        "type": "object",
        "properties": {p["name"]: p["schema"] for p in method["params"]},
        "required": [p["name"] for p in method["params"] if p["required"]],
        "additionalProperties": False,
    }
    validator = _validator(document, schema)
    base = {"name": "n", "amount": "1.00", "when": "2024-05-01T13:00:00"}
    samples = [
        base,
        {**base, "lines": [{"account": "8000", "credit": "3.10"}]},
        {**base, "lines": [{"account": ""}]},
        {**base, "amount": 1.0},
        {**base, "code": "eur"},
        {**base, "choice": None},
        {**base, "choice": 1.5},
        {**base, "nope": 1},
        {"name": "n"},
    ]
    for sample in samples:
        try:
            convert_params(Everything, sample)
            accepted = True
        except InvalidParams:
            accepted = False
        assert accepted == validator.is_valid(sample), sample


# --- the explanation agrees with msgspec ------------------------------------------------------

_EDGES = [
    *(None, True, 0, -1, 15, 1.5, 2**63, -(2**63) - 1, 10**400, "", " ", "x" * 21, "EUR", "eur"),
    *("12.50", "-0.01", "1e3", "NaN", "12,50", "2024-02-29", "2023-02-29", "2024-1-1"),
    *("2024-05-01T13:00:00", "2024-05-01 13:00", "2024-05-01T13:00:00+02:00", "daily"),
    *("weekly", [], [1], ["a", 2], {}, {"a b": 1}, {"account": "8000"}, {"account": ""}),
]
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=25),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
_values = st.sampled_from(_EDGES) | _json
_EVERYTHING = {"name": "n", "amount": "1.00", "when": "2024-05-01T13:00:00"}
_KEYS = {
    ConfigurationCreate: [*sorted(GOOD), "end_date", "delay_days", "automatic", "colour"],
    Everything: [
        *_EVERYTHING,
        "ratio",
        "code",
        "tags",
        "limits",
        "lines",
        "extra",
        "choice",
        "from",
    ],
    Tree: ["name", "children"],
}


_BASES: dict[type[msgspec.Struct], dict[str, Any]] = {
    ConfigurationCreate: GOOD,
    Everything: _EVERYTHING,
    Tree: {"name": "t"},
}


def _agree(cls: type[msgspec.Struct], raw: dict[str, Any]) -> bool:
    """Whether msgspec accepted ``raw``; fails when the explanation says otherwise."""
    try:
        msgspec.convert(raw, cls, dec_hook=lambda tp, v: Money.from_wire(v))
        accepted = True
    except msgspec.ValidationError:
        accepted = False
    explained = explain(compile_params(cls), raw)
    assert accepted == (not explained), (raw, explained)
    return accepted


@pytest.mark.parametrize("cls", list(_BASES), ids=lambda c: c.__name__)
def test_every_refusal_is_explained_and_nothing_accepted_is(cls: type[msgspec.Struct]) -> None:
    """msgspec decides; the field-by-field explanation must find a problem exactly when it
    refuses (else a client would get msgspec's words, or an error for a valid call)."""
    outcomes = set()
    for key in _KEYS[cls]:
        for value in _EDGES:
            outcomes.add(_agree(cls, {**_BASES[cls], key: value}))
            if key in ("lines", "children"):
                _agree(cls, {**_BASES[cls], key: [value]})
    assert outcomes == {True, False}


@fuzz_settings(300)
@given(data=st.data())
def test_random_params_are_explained_as_msgspec_decides(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(list(_BASES)))
    raw = dict(_BASES[cls])
    for key in data.draw(st.lists(st.sampled_from(_KEYS[cls]), min_size=1, max_size=3)):
        raw[key] = data.draw(_values | st.lists(st.dictionaries(
            st.sampled_from(["account", "debit", "name", "nope"]), _values, max_size=3
        ), max_size=2))  # fmt: skip
    accepted = _agree(cls, raw)
    tried("rpc params, explanation vs msgspec", refused=not accepted)
