"""The one adapter from pydantic's ValidationError to InvalidParameterError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from langchain_niche._validation import Expected, TypedValidationErrors, describe
from langchain_niche.errors import InvalidParameterError


class Settings(TypedValidationErrors, BaseModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    k: StrictInt = Field(default=4, ge=1)
    window: Annotated[StrictInt, Field(ge=1)] | None = None
    ratio: float = Field(default=0.5, ge=0, le=1)
    mode: Literal["fast", "exact"] = "fast"
    flag: StrictBool = False
    counter: Callable[[str], int] | None = None
    label: Annotated[str, Expected("a short label")] = "x"
    low: int = 0
    high: int = 10

    @model_validator(mode="after")
    def _ordered(self) -> Settings:
        if self.low >= self.high:
            msg = f"low must be smaller than high ({self.high}), got {self.low}"
            raise InvalidParameterError(msg, name="low", value=self.low)
        return self


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("k", "an integer >= 1"),
        ("window", "None or an integer >= 1"),
        ("ratio", "a number in [0, 1]"),
        ("mode", "one of 'fast', 'exact'"),
        ("flag", "True or False"),
        ("counter", "None or a callable"),
        ("label", "a short label"),
    ],
)
def test_fields_describe_what_they_accept(field: str, text: str) -> None:
    assert describe(Settings.model_fields[field]) == text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k must be an integer >= 1, got 0"),
        ({"k": True}, "k must be an integer >= 1, got True"),
        ({"window": "3"}, "window must be None or an integer >= 1, got '3'"),
        ({"mode": "slow"}, "mode must be one of 'fast', 'exact', got 'slow'"),
        ({"low": 10}, r"low must be smaller than high \(10\), got 10"),
    ],
)
def test_constructor_errors_name_field_rule_and_value(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"^{message}$") as info:
        Settings(**kwargs)
    (name,) = kwargs
    assert info.value.name == name


def test_a_rejected_assignment_leaves_the_object_unchanged() -> None:
    settings = Settings(low=1, high=5)
    with pytest.raises(InvalidParameterError, match="low must be smaller"):
        settings.low = 7  # passes the field's rule, fails the model validator
    assert settings.low == 1
    with pytest.raises(InvalidParameterError, match="k must be"):
        settings.k = 0
    assert settings.k == 4
    settings.low = 3
    assert settings.low == 3


class Nested(TypedValidationErrors, BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameter_prefix: ClassVar[str] = "policy"
    tries: StrictInt = Field(default=1, ge=1)


def test_a_prefix_names_nested_settings() -> None:
    with pytest.raises(InvalidParameterError, match=r"^policy\.tries must be") as info:
        Nested(tries=0)
    assert info.value.name == "policy.tries"
    with pytest.raises(
        InvalidParameterError, match=r"^policy has no setting 'retries' \(got 2\)"
    ) as info:
        Nested(retries=2)
    assert info.value.name == "policy.retries"
