"""The OpenAPI document's error responses, and /docs served from this machine.

Routes declare the problems they can answer with `responses(...)`; `install` adds the Problem schema
to the document, turns FastAPI's own 422 (declared as application/json HTTPValidationError) into the
problem we actually send, and declares 413 wherever a request body is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import FileResponse, HTMLResponse

from lakefront.api.problems import MEDIA_TYPE
from lakefront.api.schemas import Problem

_WHY = {
    401: "Not signed in: no bearer token, or one that is invalid, expired or signed out",
    403: "Signed in, but not allowed: admins only",
    404: "No such resource, or not yours to see",
    409: "The request conflicts with the current state",
    413: "The request body is larger than this operation accepts",
    422: "Invalid input; `errors` names each field at fault",
    429: "Too many attempts; wait before retrying",
    503: "The database (or, for analytics, the lake) is unavailable; retry after Retry-After seconds",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Bearer", "required": True, "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds to wait before retrying", "required": True,
                          "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
}
SIGNED_IN = (401, 503)
"""What every operation for a signed-in customer can answer besides its own problems."""
ADMIN = (401, 403, 503)


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _WHY[status],
                                "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if status in _HEADERS:
        response["headers"] = _HEADERS[status]
    return response


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """An operation's `responses` for these problem statuses (application/problem+json, Problem)."""
    return {status: _problem_response(status) for status in statuses}


def _with_problems(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for path in document.get("paths", {}).values():
        for operation in path.values():
            answers = operation.setdefault("responses", {})
            if "422" in answers:  # FastAPI declares it wherever it validates input: exactly right
                answers["422"] = _problem_response(422)
            if "requestBody" in operation:
                answers.setdefault("413", _problem_response(413))
    return document


# What /docs needs, and nothing else of the bundle (its index.html would load a demo from outside).
_ASSETS = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}
_ASSET_DIR = Path(str(swagger_ui_bundle.swagger_ui_path))


def install(app: FastAPI) -> None:
    """The document with problems, and /docs from the swagger-ui-bundle package (no CDN)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_problems(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title}: API docs",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js", swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
            # Swagger UI would otherwise send the document to validator.swagger.io for a badge.
            swagger_ui_parameters={"validatorUrl": None})

    @app.get("/docs/assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> FileResponse:
        if name not in _ASSETS:
            raise HTTPException(404, "no such asset")
        return FileResponse(_ASSET_DIR / name, headers={"Cache-Control": "public, max-age=86400"})
