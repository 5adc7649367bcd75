"""The contract, written down: an OpenAPI 3.1 description of the items API, as a
dict.

What it teaches: an OpenAPI description lists an API's paths, operations,
parameters, request bodies and responses, with a schema for every body. In
OpenAPI 3.1 those schemas are JSON Schema Draft 2020-12, so "a string or null"
is `{"type": ["string", "null"]}`. This one is built from the same allow-lists
and patterns as the code (`SORTS`, `TIMESTAMP`, `KEY`), declares every
operation's error responses as RFC 9457 problem documents, and the server's own
plain-text 413. The tests validate it with `openapi-spec-validator` and check
the server's real responses against its schemas with `jsonschema`.

Read first: `pagination` and `idempotency_keys` in this package (what is
described); the APIs over HTTP page (resources, methods, status codes).

What it leaves out: security schemes (there is no authentication), examples,
Link headers, and a second version of the API. The server that serves it at
`/openapi.json` is `items_server` in this package.

Run it: `python -m snippets.application.api_design.openapi_description`.
"""

# Shown by earlier blocks of the page; imported here so that this part runs
# alone. (`isort: split` keeps them apart from the imports of the first shown
# section.)
from snippets.application.api_design.idempotency_keys import KEY
from snippets.application.api_design.pagination import SORTS, TIMESTAMP

# isort: split
# --8<-- [start:openapi]
from http import HTTPStatus


def schema(name: str) -> dict[str, str]:
    """A reference to a schema in components."""
    return {"$ref": f"#/components/schemas/{name}"}


def problems(*statuses: int) -> dict[str, object]:
    """Response objects for error statuses, all with a problem document."""
    content = {"application/problem+json": {"schema": schema("Problem")}}
    return {
        str(status): {
            "description": HTTPStatus(status).phrase,
            "content": content,
        }
        for status in statuses
    }


ITEM = {
    "type": "object",
    "required": ["id", "title", "status", "created"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "status": {"enum": ["open", "closed"]},
        "created": {"type": "string", "format": "date-time"},
    },
}
NEW_ITEM = {
    "type": "object",
    "required": ["title"],
    "additionalProperties": False,
    "properties": {
        "title": ITEM["properties"]["title"],
        "status": {"enum": ["open", "closed"]},
    },
}
ITEM_PAGE = {
    "type": "object",
    "required": ["items", "next_cursor"],
    "additionalProperties": False,
    "properties": {
        "items": {"type": "array", "items": schema("Item")},
        # 3.1: JSON Schema, no `nullable`
        "next_cursor": {"type": ["string", "null"]},
    },
}
# RFC 9457 section 3.1 (no "type" means about:blank), and our `errors`
PROBLEM = {
    "type": "object",
    "required": ["title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "detail"],
                "properties": {
                    "pointer": {"type": "string"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}


def query_parameter(
    name: str, description: str, schema_: dict
) -> dict[str, object]:
    """An optional query parameter."""
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": schema_,
    }


LIST_PARAMETERS = [
    query_parameter(
        "status", "Only items with this status.", ITEM["properties"]["status"]
    ),
    query_parameter(
        "created_after",
        "Only items created after this instant (UTC).",
        {"type": "string", "pattern": TIMESTAMP.pattern},
    ),
    query_parameter(
        "q",
        "Only items whose title contains this text.",
        {"type": "string", "minLength": 1, "maxLength": 50},
    ),
    query_parameter(
        "sort",
        "The order; a leading minus means descending.",
        {"enum": sorted(SORTS), "default": "-created"},
    ),
    query_parameter(
        "limit",
        "Items per page.",
        {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    ),
    query_parameter(
        "cursor",
        "The next_cursor of the previous page, as it was.",
        {"type": "string"},
    ),
]
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "description": "A unique quoted string per operation; a retry with the "
    "same key and body gets the first response again (an IETF draft, not yet "
    "an RFC).",
    "schema": {"type": "string", "pattern": "^" + KEY.pattern + "$"},
}
OPENAPI: dict[str, object] = {
    "openapi": "3.1.0",
    "info": {"title": "Items API", "version": "1.0.0"},
    "paths": {
        "/v1/items": {
            "get": {
                "operationId": "listItems",
                "summary": "List items, one page at a time",
                "parameters": LIST_PARAMETERS,
                "responses": {
                    "200": {
                        "description": "A page of items",
                        "content": {
                            "application/json": {"schema": schema("ItemPage")}
                        },
                    },
                    **problems(400),
                },
            },
            "post": {
                "operationId": "createItem",
                "summary": "Create an item",
                "parameters": [IDEMPOTENCY_KEY],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": schema("NewItem")}
                    },
                },
                "responses": {
                    "201": {
                        "description": "Created",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": {
                            "application/json": {"schema": schema("Item")}
                        },
                    },
                    **problems(400, 409, 415, 422),
                    # the core's server refuses it before the handler runs
                    "413": {
                        "description": "The body is larger than the server "
                        "accepts",
                        "content": {
                            "text/plain": {"schema": {"type": "string"}}
                        },
                    },
                },
            },
        },
        "/v1/items/{id}": {
            "get": {
                "operationId": "getItem",
                "summary": "One item",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The item",
                        "content": {
                            "application/json": {"schema": schema("Item")}
                        },
                    },
                    **problems(404),
                },
            },
        },
        "/openapi.json": {
            "get": {
                "operationId": "getDescription",
                "summary": "This description",
                "responses": {
                    "200": {
                        "description": "The OpenAPI document",
                        "content": {
                            "application/json": {"schema": {"type": "object"}}
                        },
                    }
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Item": ITEM,
            "NewItem": NEW_ITEM,
            "ItemPage": ITEM_PAGE,
            "Problem": PROBLEM,
        },
    },
}


# --8<-- [end:openapi]


# The demo's `#>` lines are checked by this part's test (the page shows the
# description served over HTTP, in `items_server`); ruff format would rewrite
# them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            print(method.upper(), path, sorted(operation["responses"]))
            #> GET /v1/items ['200', '400']
            #> POST /v1/items ['201', '400', '409', '413', '415', '422']
            #> GET /v1/items/{id} ['200', '404']
            #> GET /openapi.json ['200']
    # 3.1: JSON Schema, no `nullable`
    print(ITEM_PAGE["properties"]["next_cursor"])
    #> {'type': ['string', 'null']}
