"""schemathesis, every check, against a live console: the OpenAPI document is true (public
endpoints, every status code and content type, payloads per command kind, strict types) and no
input is a 500. Bounded: a fixed seed and a fixed number of examples per operation."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Served, make_running_job
from helpers.depth import examples

from webui import create_app
from webui.auth import create_token
from webui.openapi import document

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
def test_the_api_answers_as_its_openapi_document_says(web, home: Path):
    _, conn = web
    make_running_job(conn, 3)
    token = create_token(conn, "schemathesis", "admin")
    app = create_app({"DB_PATH": home / "catalogsync.db", "ENV_PATH": home / "catalogsync.env",
                      "SSE_LIFETIME_S": 0.3, "SSE_TICK_S": 0.05, "SSE_MAX_STREAMS": 4})
    served = Served(app, threads=8)
    try:
        run = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(HERE / "schemathesis.toml"),
             "run", f"{served.base}/api/openapi.json", "--checks", "all", "--seed", "1",
             "--max-examples", str(examples(40)), "-H", f"Authorization: Bearer {token}", "--no-color"],
            capture_output=True, text=True, timeout=900, cwd=home)
    finally:
        served.stop()
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-6000:]
    # Every operation the document names, but the document itself (schemathesis reads it, not tests it).
    operations = sum(len(methods) for path, methods in document()["paths"].items() if path != "/api/openapi.json")
    assert "No issues found" in report and f"Tested: {operations}" in report, report[-3000:]
