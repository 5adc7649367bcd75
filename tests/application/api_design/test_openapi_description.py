"""The OpenAPI part's claim: the description is valid OpenAPI 3.1.

Oracle: `openapi-spec-validator` checks the description against the OpenAPI 3.1
specification, and refuses copies broken in four ways, so the check is a real one. The
server's responses are validated against it in test_items_server.py.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from snippets.application.api_design import openapi_description
from snippets.application.api_design.openapi_description import OPENAPI
from tests.helpers import run_demo


def test_the_description_is_valid_openapi_3_1() -> None:
    validate(OPENAPI)  # raises OpenAPIValidationError if not
    assert OPENAPI["openapi"].startswith("3.1.")


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.pop("info"),
        lambda d: d["paths"]["/v1/items"]["get"]["responses"]["200"].pop("description"),
        lambda d: d["paths"]["/v1/items/{id}"]["get"]["parameters"][0].pop("required"),
        lambda d: d["paths"]["/v1/items"]["get"]["parameters"][0].update(
            {"in": "cookies"}
        ),
    ],
    ids=["no info", "response without description", "optional path param", "bad in"],
)
def test_the_validator_is_a_real_check(breakage) -> None:
    broken = copy.deepcopy(OPENAPI)
    breakage(broken)
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_the_demo_runs_clean_and_prints_what_its_comments_say() -> None:
    """The page does not show this demo, so its `#>` lines are checked here."""
    done = run_demo("snippets.application.api_design.openapi_description", check=True)
    assert done.stderr == ""
    source = Path(openapi_description.__file__).read_text(encoding="utf-8")
    assert done.stdout.splitlines() == re.findall(r"^ *#> (.*)$", source, re.M)
