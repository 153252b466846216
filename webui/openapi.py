"""The OpenAPI document of /api/, kept beside the routes (a test checks they match)."""
from __future__ import annotations

from catalogsync_ops import __version__
from catalogsync_ops.engine.commands import CommandKind

JSON = {"application/json": {"schema": {"type": "object"}}}


def _get(summary: str, params: list[str] | None = None) -> dict:
    return {"get": {"summary": summary, "parameters": [
        {"name": p, "in": "path" if p.endswith("_id") else "query", "required": p.endswith("_id"),
         "schema": {"type": "integer" if p.endswith("_id") or p in ("after", "before", "limit") else "string"}}
        for p in params or []], "responses": {"200": {"description": "OK", "content": JSON},
                                              "401": {"description": "login or Bearer token required"}}}}


def document() -> dict:
    """OpenAPI 3.0 description of every /api/ route."""
    paths = {
        "/api/ping": _get("'ok' without touching the database (no login)"),
        "/api/healthz": _get("Web up, database readable, runner heartbeat age (no login); 503 when the runner is down"),
        "/api/status": _get("Runner, active job with stage counters, queue, pending commands"),
        "/api/events": _get("Server-Sent Events: job events and status; honours Last-Event-ID", ["after"]),
        "/api/jobs": _get("Jobs, newest first, keyset-paginated", ["before", "limit"]),
        "/api/jobs/{job_id}": _get("One job with its stages", ["job_id"]),
        "/api/jobs/{job_id}/items": _get("Items of a job by status, keyset-paginated", ["job_id", "status", "after", "limit"]),
        "/api/items/{item_id}/attempts": _get("The attempt history of one item", ["item_id"]),
        "/api/workers": _get("Live worker state of the current runner"),
        "/api/playlists": _get("Playlists, keyset-paginated", ["after"]),
        "/api/logs": _get("Log rows, newest first", ["before", "level"]),
        "/api/config": _get("catalogsync.env with secrets masked"),
        "/api/config/revisions": _get("Revisions of catalogsync.env", ["before"]),
        "/api/openapi.json": _get("This document"),
        "/api/commands/{command_id}": _get("One command and its outcome (pending, applied, rejected)", ["command_id"]),
        "/api/commands": {"post": {
            "summary": "Queue a command for the runner",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["kind"],
                "properties": {"kind": {"type": "string", "enum": [k.value for k in CommandKind]},
                               "payload": {"type": "object"}, "idempotency_key": {"type": "string"}}}}}},
            "responses": {"202": {"description": "Queued; poll /api/commands/{id}", "content": JSON},
                          "400": {"description": "malformed command or missing CSRF token"},
                          "401": {"description": "login or Bearer token required"}}}},
    }
    return {"openapi": "3.0.3", "info": {"title": "Catalogsync Ops console API", "version": __version__},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}], "paths": paths}
