"""The OpenAPI document of /api/, kept beside the routes: a test checks that they match, and
schemathesis (tests/test_api_schema.py) checks that the server answers as it says — every
status code, content type and payload, the public endpoints without a token, strict types."""
from __future__ import annotations

from catalogsync_ops import __version__
from catalogsync_ops.engine.command_specs import SPECS
from catalogsync_ops.engine.queries import LOG_LEVELS, WANTED_STATES
from catalogsync_ops.engine.states import ItemStatus, StageType
from catalogsync_ops.errors import ErrorClass
from catalogsync_ops.store.connection import ID_MAX

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
OBJECT = {"type": "object"}
ID = {"type": "integer", "minimum": 1, "maximum": ID_MAX}
CURSOR = {"type": "integer", "minimum": 0, "maximum": ID_MAX}
TEXT = {"type": "string", "maxLength": 500, "pattern": "^[^\\u0000]*$"}
LEVELS = list(LOG_LEVELS)


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _errors(*codes: int) -> dict:
    why = {400: "a parameter or the body is malformed or out of range (the message says which)",
           401: "login or Bearer token required", 403: "this API token's scope does not allow it",
           404: "no such resource", 413: "the body is larger than 1 MiB", 503: "see the body"}
    return {str(code): {"description": why[code], "content": _json(ERROR)} for code in codes}


def _param(name: str, where: str, schema: dict, description: str = "", required: bool | None = None) -> dict:
    return {"name": name, "in": where, "required": where == "path" if required is None else required,
            "schema": schema, **({"description": description} if description else {})}


def _get(summary: str, params: list[dict] | None = None, body: dict | None = None, *, public: bool = False,
         extra: dict | None = None) -> dict:
    responses = {"200": {"description": "OK", "content": _json(body or OBJECT)}}
    if any(p["in"] == "query" for p in params or []):
        responses.update(_errors(400))
    if not public:
        responses.update(_errors(401, 403))
    if any(p["in"] == "path" for p in params or []):
        responses.update(_errors(404))
    responses.update(extra or {})
    operation = {"summary": summary, "parameters": params or [], "responses": responses}
    if public:
        operation["security"] = []
    return {"get": operation}


def _command(kind: str, payload: dict) -> dict:
    return {"type": "object", "required": ["kind"] + (["payload"] if payload.get("required") else []),
            "properties": {"kind": {"type": "string", "enum": [kind]}, "payload": payload,
                           "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 200,
                                               "pattern": "^[^\\u0000-\\u001f\\u007f]+$"}}}


def command_schemas() -> dict[str, dict]:
    """The payload each command kind takes (engine/command_specs.py)."""
    return {kind.value: spec.schema() for kind, spec in SPECS.items()}


def document() -> dict:
    """OpenAPI 3.0 description of every /api/ route."""
    job_id, item_id = _param("job_id", "path", {**ID, "minimum": 0}), _param("item_id", "path", {**ID, "minimum": 0})
    limit = _param("limit", "query", {"type": "integer"}, "brought into 1..500", False)
    health = {"type": "object", "required": ["web", "database", "runner"],
              "properties": {"web": {"type": "string"}, "database": {"type": "string"}, "runner": {"type": "string"}}}
    paths = {
        "/api/ping": {"get": {"summary": "'ok' without touching the database (no login)", "security": [],
                              "parameters": [], "responses": {"200": {"description": "OK", "content": {
                                  "text/plain": {"schema": {"type": "string", "enum": ["ok\n"]}}}}}}},
        "/api/healthz": _get("Web up, database readable, runner heartbeat age (no login); 503 names what is not well",
                             public=True, body=health,
                             extra={"503": {"description": "the runner is down, degraded or never started, or the "
                                                           "database is unreadable", "content": _json(health)}}),
        "/api/status": _get("Runner, active job with stage counters, queue, pending commands"),
        "/api/events": {"get": {
            "summary": "Server-Sent Events: job events and status; honours Last-Event-ID",
            "parameters": [_param("after", "query", {"type": "integer"}, "the last event id seen", False)],
            "responses": {"200": {"description": "an event stream", "content": {
                "text/event-stream": {"schema": {"type": "object", "properties": {
                    "event": {"type": "string", "enum": ["status", "job"]}, "data": {"type": "string"},
                    "id": {"type": "string"}, "retry": {"type": "integer"}}}}}},
                **_errors(400, 401, 403),
                "503": {"description": "every live-stream slot is taken: poll /api/status (Retry-After)",
                        "content": _json(ERROR)}}}},
        "/api/jobs": _get("Jobs, newest first, keyset-paginated", [_param("before", "query", CURSOR, required=False),
                                                                    limit]),
        "/api/jobs/{job_id}": _get("One job with its stages", [job_id]),
        "/api/jobs/{job_id}/items": _get("Items of a job by status, keyset-paginated", [
            job_id, _param("status", "query", {"type": "string", "enum": [s.value for s in ItemStatus]},
                           required=False),
            _param("error_class", "query", {"type": "string", "enum": [e.value for e in ErrorClass]},
                   "failed items (or of `status`) of this error class", required=False),
            _param("source", "query", {"type": "string", "maxLength": 40},
                   "failed items (or of `status`) whose last source was this one", required=False),
            _param("stage", "query", {"type": "string", "enum": [s.value for s in StageType]},
                   "one stage's items (none when the job has no such stage)", required=False),
            _param("after", "query", CURSOR, required=False), limit]),
        "/api/items/{item_id}/attempts": _get("The attempt history of one item", [item_id]),
        "/api/workers": _get("Live worker state of the current runner"),
        "/api/playlists": _get("Playlists, keyset-paginated", [_param("after", "query", CURSOR, required=False)]),
        "/api/wanted": _get("Wanted songs the library could not get (missing, unavailable), by song id", [
            _param("state", "query", {"type": "string", "enum": list(WANTED_STATES)}, "only songs in this state",
                   required=False),
            _param("after", "query", CURSOR, "songs after this song id", required=False)]),
        "/api/wanted/below": _get("Songs in the library below the best quality DOWNLOAD_QUALITY asks for, by song id",
                                  [_param("after", "query", CURSOR, "songs after this song id", required=False)]),
        "/api/logs": _get("Log rows, newest first", [
            _param("before", "query", CURSOR, required=False),
            _param("level", "query", {"type": "string", "enum": LEVELS}, "this level and above", required=False),
            _param("job", "query", {**ID, "minimum": 0}, "one job's lines", required=False),
            _param("q", "query", {"type": "string", "maxLength": 200}, "lines whose message holds this text",
                   required=False)]),
        "/api/config": _get("catalogsync.env with secrets masked (an admin token)", extra=_errors(404)),
        "/api/config/revisions": _get("Revisions of catalogsync.env (an admin token)",
                                      [_param("before", "query", CURSOR, required=False)]),
        "/api/openapi.json": _get("This document"),
        "/api/commands/{command_id}": _get("One command and its outcome (pending, applied, rejected)",
                                           [_param("command_id", "path", {**ID, "minimum": 0})]),
        "/api/commands": {"post": {
            "summary": "Queue a command for the runner (a control token; an admin token for the config)",
            "requestBody": {"required": True, "content": _json({
                "oneOf": [_command(kind, schema) for kind, schema in command_schemas().items()]})},
            "responses": {"202": {"description": "Queued; poll /api/commands/{id}", "content": _json({
                "type": "object", "required": ["id", "status", "created"],
                "properties": {"id": {"type": "integer"}, "status": {"type": "string"},
                               "created": {"type": "boolean"}}})},
                **_errors(400, 401, 403, 413),
                "409": {"description": "the idempotency key was used for another command", "content": _json(ERROR)}}}},
    }
    return {"openapi": "3.0.3", "info": {"title": "Catalogsync Ops console API", "version": __version__},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}], "paths": paths}
