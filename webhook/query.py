"""Query parameters of the storefront and demo routes, declared as pydantic models.

Each route parses ``request.args`` through its model (`parse`): a value that does not fit is a
400 naming the parameter, never a 500 (``?limit=²``: `str.isdigit` accepts a superscript two
that `int` refuses). Numbers are ASCII digits only. A parameter given twice is refused rather
than silently taking the first; parameters a route does not declare are ignored (cache
busters). The OpenAPI document lists the same fields (`openapi_parameters`).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from flask import abort, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

MAX_EXCLUDE = 200
MAX_SKU = 64  # Magento's SKU column
MAX_TOKEN = 512  # v1.<b64url id>.<expires>.<64 hex>: far below for any real customer id


def _ascii_int(value: Any) -> int:
    """An integer written in ASCII digits only (no sign, spaces, underscores or other scripts)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9):
        raise ValueError("not an integer in ASCII digits")
    return int(value)


class Query(BaseModel):
    """Common configuration: unknown parameters ignored, values never echoed into errors."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class ListQuery(Query):
    """``/v1/popular``, ``/v1/items/<sku>/similar`` and a customer's recommendations."""

    limit: int | None = Field(None, ge=1, description=(
        "how many SKUs (1 to DMFREC_PUBLISH_N; default DMFREC_TOP_N)"))
    exclude: Annotated[list[Annotated[str, Field(max_length=MAX_SKU)]],
                       Field(max_length=MAX_EXCLUDE)] = Field(
        default_factory=list, description="comma-separated SKUs to leave out (e.g. the cart)",
        json_schema_extra={"type": "string", "example": "SKU-1,SKU-2"})

    session: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9._-]+$",
                                description=(
        "the widget's guest session (`new` to get one): the answer then carries a "
        "recommendation id for its impression and click reports"))
    website: int | None = Field(None, ge=0, le=2**31 - 1, description=(
        "only SKUs on this Magento website (when their websites are known from the "
        "catalogue sync)"))

    @field_validator("website", mode="before")
    @classmethod
    def _website(cls, value: Any) -> int | None:
        if value is None:
            return None
        try:
            return _ascii_int(value)
        except ValueError:
            raise ValueError("must be a website id in ASCII digits") from None

    @field_validator("limit", mode="before")
    @classmethod
    def _limit(cls, value: Any, info: ValidationInfo) -> int | None:
        if value is None:
            return None
        maximum = (info.context or {}).get("max_limit")
        try:
            number = _ascii_int(value)
        except ValueError:
            number = 0
        if not 1 <= number <= (maximum or number):
            raise ValueError(f"must be an integer from 1 to {maximum}")
        return number

    @field_validator("exclude", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return value


class CustomerListQuery(ListQuery):
    token: str | None = Field(None, max_length=MAX_TOKEN, description=(
        "storefront token, when an Authorization header is impractical"))


class DemoQuery(Query):
    customer: str = Field("1", pattern=r"^[0-9]{1,10}$",
                          description="a numeric Magento customer id")


Q = TypeVar("Q", bound=Query)


def parse(model: type[Q], **context: Any) -> Q:
    """``request.args`` as `model`, or abort 400 naming each offending parameter."""
    args = request.args
    repeated = sorted(k for k in model.model_fields if len(args.getlist(k)) > 1)
    if repeated:
        abort(400, f"query parameter given more than once: {', '.join(repeated)}")
    values = {k: args[k] for k in model.model_fields if k in args}
    try:
        return model.model_validate(values, context=context)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][:1]))}: "
                             f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        abort(400, f"invalid query parameter {problems}")


def openapi_parameters(model: type[Query]) -> list[dict]:
    """The model's fields as OpenAPI query parameters (the document cannot drift from them)."""
    schema = model.model_json_schema()
    params = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        prop.pop("default", None)
        if "anyOf" in prop:  # `X | None`: optional anyway, document the X
            prop.update(next(p for p in prop.pop("anyOf") if p.get("type") != "null"))
        if prop.get("type") == "string":
            prop.pop("items", None)
            prop.pop("maxItems", None)
        params.append({"name": name, "in": "query", "required": False,
                       "description": description, "schema": prop})
    return params
