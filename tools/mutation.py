"""Mutation testing of the core: break one line at a time and see whether the tests notice.

Runs cosmic-ray (pip install -e '.[mutation]') on the queue engine (claims, transitions,
commands, recovery), the downloader and the console's auth, each with the tests that guard
it, plus a pass of our own over the SQL in the engine, which no Python mutation tool reaches:
each condition of a WHERE clause dropped in turn (the claim that forgets to check its job is
one). Works on a copy of the checkout, never on it. Writes test-output/mutation/report.md: the
score per target and every survivor with its diff, for a person to kill with a test or mark
as equivalent (EQUIVALENT below, with the reason).

Not part of CI: a full run takes about 75 minutes of one core (two runs side by side, one on
the engine and one on the downloader and auth, take 45 minutes on two cores). Usage:
    python tools/mutation.py [--target engine downloader auth] [--keep]
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    name: str
    modules: tuple[str, ...]
    tests: str  # pytest arguments: the tests that guard these modules, a few seconds' worth
    sql: bool = False  # also mutate the SQL in these modules' string literals


TARGETS = {
    "engine": Target("engine", (
        "catalogsync_ops/engine/items.py", "catalogsync_ops/engine/jobs.py", "catalogsync_ops/engine/stages.py",
        "catalogsync_ops/engine/commands.py", "catalogsync_ops/engine/runners.py", "catalogsync_ops/engine/retry.py",
    ), "tests/test_queue.py tests/test_queue_details.py tests/test_commands.py tests/test_guarantees.py -k 'not "
       "sigkill and not cancel_through'",
       sql=True),
    "downloader": Target("downloader", ("catalogsync_ops/transfer/downloader.py",), "tests/test_downloader.py"),
    "auth": Target("auth", ("webui/auth.py",), "tests/test_webui.py tests/test_webui_auth.py "
                                               "tests/test_hardening_console.py -k 'login or csrf"
                   " or token or setup or password or session or sign or origin or fetch or cookie or auth or scope"
                   " or proxy or forwarded or redirect'"),
}

# One replacement per operator, as a reviewer would break a line (cosmic-ray's full cross
# product of binary operators is mostly noise): every other operator is left out.
KEEP_OPERATORS = [
    (r"core/ReplaceBinaryOperator_(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Mul|Mod_Mul|Pow_Mul|BitOr_BitAnd|"
    r"BitAnd_BitOr|LShift_RShift|RShift_LShift)$"),
    (r"core/ReplaceComparisonOperator_(Eq_NotEq|NotEq_Eq|Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Is_IsNot|IsNot_Is|In_NotIn|"
    r"NotIn_In)$"),
    (r"core/(AddNot|ReplaceTrueWithFalse|ReplaceFalseWithTrue|ReplaceAndWithOr|ReplaceOrWithAnd|"
    r"ReplaceBreakWithContinue|ReplaceContinueWithBreak|NumberReplacer|ZeroIterationForLoop|ExceptionReplacer|"
    r"ReplaceUnaryOperator_USub_UAdd|ReplaceUnaryOperator_Delete_Not)$"),
]

# Survivors a person has looked at and found to change nothing a user could notice (or to be
# guarded by a test outside the target's quick set: said in the reason), by (file, a piece of the
# mutated line's text, operator). A piece follows its line when code above it moves; "\n" in a
# piece joins the line before ("if not chunk:\nbreak"). A review that matches no line of its file
# any more is listed in the report, to be looked at again.
DL = "catalogsync_ops/transfer/downloader.py"
CMD = "catalogsync_ops/engine/commands.py"
ENGINE = "catalogsync_ops/engine/"
ITEMS, JOBS, STAGES = ENGINE + "items.py", ENGINE + "jobs.py", ENGINE + "stages.py"
RUNNERS, RETRY = ENGINE + "runners.py", ENGINE + "retry.py"
AUTH = "webui/auth.py"
ONE_COLUMN = "the row has one column: row[-1] is row[0]"
SAME_JSON = "ensure_ascii: the JSON decodes to the same values"
DURABLE = ("durability shows only across a power cut: tests/test_power_cut.py and tools/power_cut.py cut the power"
           " under it; the engine's quick tests cannot see an fsync")
NUMBER, TRUE_FALSE, SQL = "core/NumberReplacer", "core/ReplaceTrueWithFalse", "sql/AlwaysTrue"
FALSE_TRUE = "core/ReplaceFalseWithTrue"
EQUIVALENT: dict[tuple[str, str, str], str] = {
    (DL, "@dataclass(frozen=True)", TRUE_FALSE): "FetchResult is never changed once made; `frozen` only guards "
                                                 "against a future bug",
    (DL, "if free - need_bytes < min_free_bytes:", "core/ReplaceComparisonOperator_Lt_LtE"):
        "the one-byte boundary of the free-space check",
    (DL, "self.last = ", NUMBER): "the throttle's first time stamp: time.monotonic() is far past 1 s, so the first "
                                  "report is shown either way",
    (DL, "now - self.last >= PROGRESS_INTERVAL_S", "core/ReplaceComparisonOperator_GtE_Gt"):
        "a report exactly 0.25 s after the last: a float clock never lands on it",
    (DL, "min_free_bytes: int = 0,", NUMBER): "the default of min_free_bytes, ±1 byte: every caller passes "
                                              "MIN_FREE_DISK_MB",
    (DL, "timeout: float = 30,", NUMBER): "the default timeout, ±1 s: every caller passes HTTP_TIMEOUT_SECONDS",
    (DL, "response.status_code >= 400", NUMBER): "an error status from 400 or from 399 (or 401: killed): no server "
                                                 "answers 399",
    (DL, "have = part.stat().st_size if part.exists() else 0", NUMBER):
        "`have` of a missing part file: with no sidecar to read, it is set back to 0 below",
    (DL, "if not chunk:\nbreak", "core/ReplaceBreakWithContinue"):
        "re-hashing a resumed part stops when `remaining` is 0; the file cannot end early, `start` is its own size",
    (DL, "decode_content=True", TRUE_FALSE): "decode_content: we ask for Accept-Encoding: identity, so the body is "
                                             "never encoded",
    (ITEMS, "if row[0] is None:", NUMBER): ONE_COLUMN,
    (ITEMS, "parse_iso(row[0])", NUMBER): ONE_COLUMN,
    (ITEMS, "return claims[0] if claims else None", NUMBER): "claim_next_item claims one: [-1] is [0]",
    (ITEMS, "json.dumps(details, ensure_ascii=False)", FALSE_TRUE): SAME_JSON,
    (ITEMS, "json.dumps(error_params or {}, ensure_ascii=False, default=str)", FALSE_TRUE): SAME_JSON,
    (ITEMS, "LIMIT ?) AND status = 'queued'", SQL): "the claim's compare-and-set repeats its subquery's condition "
                                                    "in the same statement, which SQLite runs alone",
    (JOBS, "json.dumps(scope or {}, ensure_ascii=False)", FALSE_TRUE): SAME_JSON,
    (JOBS, "json.dumps(config_snapshot or {}, ensure_ascii=False)", FALSE_TRUE): SAME_JSON,
    (STAGES, "json.dumps(spec.payload, ensure_ascii=False)", FALSE_TRUE): SAME_JSON,
    (STAGES, "added = max(cursor.rowcount, 0)", NUMBER): "an INSERT's rowcount is never negative",
    (STAGES, "give_up_nights: int = 0,", NUMBER): "-1 gives up never, as 0 does (`give_up_nights > 0`); +1 is "
                                                   "killed",
    (RETRY, "stage_ids = [r[0] for r in conn.execute(", NUMBER): ONE_COLUMN,
    (RETRY, "WHERE id = ? AND status = ?", SQL): "the retry re-checks, in the transaction that read it, the status "
                                                 "it just read",
    (RUNNERS, "SELECT paused FROM runner_state WHERE id = 1", NUMBER): ONE_COLUMN,
    (RUNNERS, "report.gone_runners = [r[0] for r in gone]", NUMBER): ONE_COLUMN,
    (RUNNERS, "WHERE id = ? AND status = 'running'", SQL): "recovery re-checks, in the transaction that selected "
                                                           "them, items it selected as running",
    (RUNNERS, "AND outcome = 'running'", SQL): "the same, for their open attempts",
    (RUNNERS, "return bool(self.interrupted or self.failed or self.paused_jobs or self.canceled",
     "core/ReplaceOrWithAnd"): "items are interrupted or failed only with their job paused, resumed or canceled, "
                               "which counts on its own",
    (CMD, "except sqlite3.IntegrityError as exc:", "core/ExceptionReplacer"):
        "a command with the same idempotency key written by another process between the check and the insert: a "
        "race no single-process test makes",
    (CMD, 'if out["kind"] == CommandKind.APPLY_CONFIG and "content" in out["payload"]:', "core/ReplaceAndWithOr"):
        "only apply_config payloads may carry `content` (payloads are validated)",
    (CMD, "SELECT COUNT(*) FROM job_commands WHERE status = 'pending'", NUMBER): ONE_COLUMN,
    (CMD, "str(exc)[:300]", NUMBER): "the cap of an unexpected error's text (300 or 299 characters) in the reject "
                                     "reason",
    (CMD, "AND runner_instance_id IS NOT NULL", SQL): "`runner_instance_id != ?` is already not true for NULL",
    (CMD, "AND runner_instance_id != ?", SQL): "called as a runner starts, before it has taken any command of its "
                                               "own",
    (CMD, "UPDATE job_commands SET runner_instance_id = ? WHERE id = ? AND status = 'pending'", SQL):
        "marking a command taken that another runner applied meanwhile: a second runner cannot run (the lock); the "
        "apply that follows finds it not pending",
    (CMD, "AND status = 'uploaded'", SQL): "a repair sets the file's upload task pending; a task in another state "
                                           "than uploaded is pending or failed, and a repair wants it uploaded again "
                                           "either way",
    (CMD, 'return int(ctx.config["MAX_ATTEMPTS"]) if ctx.config else 1', NUMBER):
        "the extra attempts of a retry when the runner has no config: runnerd always has one",
    (CMD, "[(iso(now), reason, r[0]) for r in rows]", NUMBER): ONE_COLUMN,
    (CMD, "return [r[0] for r in rows]", NUMBER): ONE_COLUMN,
    (CMD, "ids = [r[0] for r in conn.execute(", NUMBER): ONE_COLUMN,
    (CMD, '"notification_id": notification[0]', NUMBER): ONE_COLUMN,
    (CMD, 'get(origin[0] if origin else ""', NUMBER): ONE_COLUMN,
    (CMD, "limit: int = 100)", NUMBER): "how many pending commands one pass applies (100 or ±1); the next pass "
                                        "takes the rest",
    (CMD, "body = json.dumps(clean, ensure_ascii=False, sort_keys=True)", TRUE_FALSE):
        "the stored payload's key order: payloads are validated into a fixed order",
    (CMD, "body = json.dumps(clean, ensure_ascii=False, sort_keys=True)", FALSE_TRUE): SAME_JSON,
    (CMD, "body = json.dumps(result, ensure_ascii=False)", FALSE_TRUE): SAME_JSON,
    (CMD, "json.dumps(rejected.params, ensure_ascii=False, default=str)", FALSE_TRUE): SAME_JSON,
    (CMD, "with transaction(conn, durable=True):", TRUE_FALSE): DURABLE,
    (AUTH, "parse_iso(row[\"updated_at\"]) < SETUP_TOKEN_TTL", "core/ReplaceComparisonOperator_Lt_LtE"):
        "a setup link used exactly 24 hours after it was made",
    (AUTH, "check_password_hash(row[0], password)", NUMBER): ONE_COLUMN,
    (AUTH, "check_password_hash(row[0], request.form.get(", NUMBER): ONE_COLUMN,
    (AUTH, "header[7:].strip()", NUMBER): "`Bearer ` is 7 characters; from the 6th, the space is stripped: the same "
                                         "token",
    (AUTH, 'secrets.token_urlsafe(16), method="scrypt"', NUMBER): "the length of the random password of the dummy "
                                                                  "hash that evens out sign-in times",
    (AUTH, "> timedelta(minutes=1)", "core/ReplaceComparisonOperator_Gt_GtE"):
        "a token used again exactly 60 s after its last use",
    (AUTH, "check_password_hash(_DUMMY_HASH[0], password)", NUMBER): "the dummy hash list holds one hash: [-1] is [0]",
}


def reviewed(row: dict) -> str | None:
    """The reason a person gave for a survivor (EQUIVALENT), or None."""
    for (file, piece, operator), reason in EQUIVALENT.items():
        if row["file"] == file and row["operator"] == operator and piece in row.get("source", ""):
            return reason
    return None


def joined_lines(text: str) -> list[str]:
    """Each line of a module (stripped) with the one before, joined by a newline: what a review's
    piece is matched against (entry i is line i + 1)."""
    lines = [part.strip() for part in text.splitlines()]
    return ["\n".join(lines[max(0, i - 1):i + 1]) for i in range(len(lines))]


def stale_reviews(work: Path) -> list[tuple[str, str, str]]:
    """Reviews whose piece is in no line (with the one before) of their file any more."""
    modules: dict[str, list[str]] = {}
    stale = []
    for file, piece, operator in EQUIVALENT:
        if file not in modules:
            modules[file] = joined_lines((work / file).read_text(encoding="utf-8"))
        if not any(piece in text for text in modules[file]):
            stale.append((file, piece, operator))
    return stale


def copy_checkout(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for rel in files:
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def run_tests(work: Path, tests: str, timeout: float) -> str:
    """'killed', 'survived' or 'timeout' for the tree as it is now."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        result = subprocess.run(f"{sys.executable} -m pytest -x -q -p no:cacheprovider {tests}", shell=True, cwd=work,
                                check=False,
                                env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout"
    return "survived" if result.returncode == 0 else "killed"


# ---------------------------------------------------------------- cosmic-ray

def cosmic_ray(work: Path, target: Target, timeout: float, recheck: bool = False) -> list[dict]:
    operators = subprocess.run([str(Path(sys.executable).parent / "cosmic-ray"), "operators"], capture_output=True,
                               text=True, check=True).stdout.split()
    exclude = [op for op in operators if not any(re.match(k, op) for k in KEEP_OPERATORS)]
    config = work / f"cr-{target.name}.toml"
    config.write_text("\n".join([
        "[cosmic-ray]",
        f"module-path = {json.dumps(list(target.modules))}",
        f"timeout = {timeout}",
        "excluded-modules = []",
        f"test-command = {json.dumps(f'{sys.executable} -m pytest -x -q -p no:cacheprovider {target.tests}')}",
        "[cosmic-ray.distributor]",
        'name = "local"',
        "[cosmic-ray.filters.operators-filter]",
        f"exclude-operators = {json.dumps(['^' + re.escape(op) + '$' for op in exclude])}",
    ]) + "\n", encoding="utf-8")
    session = work / f"cr-{target.name}.sqlite"
    bin_dir = Path(sys.executable).parent
    if recheck:
        recheck_survivors(work, session, target, timeout)
    else:
        subprocess.run([str(bin_dir / "cosmic-ray"), "init", str(config), str(session)], cwd=work, check=True)
        subprocess.run([str(bin_dir / "cr-filter-operators"), str(session), str(config)], cwd=work, check=True)
        skipped = skip_annotations(work, session)
        print(f"  {skipped} mutants of type annotations and keyword-only markers left out (never run code)",
              flush=True)
        subprocess.run([str(bin_dir / "cosmic-ray"), "exec", str(config), str(session)], cwd=work, check=True)
    dump = subprocess.run([str(bin_dir / "cosmic-ray"), "dump", str(session)], cwd=work, capture_output=True,
                          text=True, check=True).stdout
    out = []
    modules: dict[str, list[str]] = {}  # each module's lines, read once (every mutant is undone by now)
    for line in dump.splitlines():
        item, result = json.loads(line)
        if result is None or result.get("worker_outcome") == "skipped":
            continue  # filtered out
        mutation = item["mutations"][0]
        outcome = result.get("test_outcome") or result.get("worker_outcome")
        path, line = mutation["module_path"], mutation["start_pos"][0]
        if path not in modules:
            modules[path] = joined_lines((work / path).read_text(encoding="utf-8"))
        out.append({"file": path, "line": line, "source": modules[path][line - 1],
                    "operator": mutation["operator_name"], "outcome": outcome, "diff": result.get("diff") or ""})
    return out


def recheck_survivors(work: Path, session: Path, target: Target, timeout: float) -> None:
    """Run the survivors of an earlier session again, with the tests as they are now (a mutant
    the earlier tests killed stays killed: tests are only ever added)."""
    from cosmic_ray.mutating import mutate_and_test
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome

    command = f"{sys.executable} -m pytest -x -q -p no:cacheprovider {target.tests}"
    here = os.getcwd()
    os.chdir(work)
    try:
        with use_db(str(session), mode=WorkDB.Mode.open) as db:
            items = {item.job_id: item for item in db.work_items}
            survivors = [job_id for job_id, result in db.results if result.test_outcome == TestOutcome.SURVIVED]
            print(f"  {len(survivors)} survivors to run again", flush=True)
            for job_id in survivors:
                result = mutate_and_test(items[job_id].mutations, command, timeout)
                db.set_result(job_id, result)
    finally:
        os.chdir(here)


def _annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    spans = []
    for node in ast.walk(ast.parse(source)):
        found = []
        if isinstance(node, ast.arg) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        spans += [((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)) for a in found]
    return spans


def skip_annotations(work: Path, session: Path) -> int:
    """Mark as skipped the mutants that change only a type annotation (`str | None` → `str & None`;
    with `from __future__ import annotations` they are never evaluated) or turn the keyword-only
    marker `*` into `/` (every caller passes those arguments by keyword): noise, not tests' gaps."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    sources: dict[str, tuple[list[str], list]] = {}
    skipped = 0
    with use_db(str(session), mode=WorkDB.Mode.open) as db:
        done = {job_id for job_id, _ in db.results}
        for item in db.work_items:
            if item.job_id in done:
                continue
            for spec in item.mutations:
                path = str(spec.module_path)
                if path not in sources:
                    text = (work / path).read_text(encoding="utf-8")
                    sources[path] = (text.splitlines(), _annotation_spans(text))
                lines, spans = sources[path]
                row, col = spec.start_pos
                in_annotation = any(start <= (row, col) < end for start, end in spans)
                marker = lines[row - 1][col:col + 1] == "*" and lines[row - 1][col + 1:].lstrip().startswith(",")
                if in_annotation or marker:
                    db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED,
                                                          output="annotation or keyword-only marker"))
                    skipped += 1
    return skipped


# ---------------------------------------------------------------- SQL conditions

_CONDITION = re.compile(r"(?:\s+AND\s+)((?:[a-z_]+\.)?[a-z_]+\s*(?:=|!=|<=|>=|<|>|IN|NOT IN|IS NOT|IS)\s*"
                        r"(?:\([^()]*\)|'[^']*'|\?|[a-z_.]+))", re.IGNORECASE)


def sql_mutants(text: str) -> list[tuple[int, str, str]]:
    """(line, description, new text): each `AND <condition>` inside a string literal made always
    true (`AND (<condition> OR 1)`: as if dropped, with its parameters still bound)."""
    out = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if '"' not in line:
            continue
        for match in _CONDITION.finditer(line):
            before = line[:match.start()]
            if before.count('"') % 2 == 0:
                continue  # not inside a string literal
            mutated = f"{line[:match.start(1)]}({match.group(1)} OR 1){line[match.end(1):]}"
            lines = text.splitlines(keepends=True)
            lines[number - 1] = mutated
            out.append((number, f"drop `AND {match.group(1)}`", "".join(lines)))
    return out


def sql_pass(work: Path, target: Target, timeout: float) -> list[dict]:
    out = []
    for module in target.modules:
        path = work / module
        original = path.read_text(encoding="utf-8")
        lines = joined_lines(original)  # a review matches the line as it was, not as the mutant left it
        try:
            for line, what, mutated in sql_mutants(original):
                path.write_text(mutated, encoding="utf-8")
                outcome = run_tests(work, target.tests, timeout)
                out.append({"file": module, "line": line, "source": lines[line - 1],
                            "operator": "sql/AlwaysTrue", "outcome": outcome, "diff": what})
                print(f"  {module}:{line} {what}: {outcome}", flush=True)
        finally:
            path.write_text(original, encoding="utf-8")
    return out


# ---------------------------------------------------------------- report

def report(results: dict[str, list[dict]], took: dict[str, float], stale: list[tuple[str, str, str]] = ()) -> str:
    lines = ["# Mutation testing report", "",
             ("Made by `python tools/mutation.py`. Killed: a test failed (or the run timed out) with the "
             "mutant in place."), "",
             "| target | mutants | killed | survived | equivalent | killed of all | killed of the rest | took |",
             "|---|---|---|---|---|---|---|---|"]
    survivors = []
    for name, rows in results.items():
        incompetent = [r for r in rows if r["outcome"] not in ("killed", "timeout", "survived")]
        rows = [r for r in rows if r not in incompetent]  # could not be tested (the mutant broke the import)
        killed = sum(r["outcome"] in ("killed", "timeout") for r in rows)
        equivalent = [r for r in rows if r["outcome"] == "survived" and reviewed(r)]
        survived = [r for r in rows if r["outcome"] == "survived" and r not in equivalent]
        scored = len(rows) - len(equivalent)
        score = killed / scored if scored else 1.0
        lines.append(f"| {name} | {len(rows)} | {killed} | {len(survived)} | {len(equivalent)} | "
                     f"{killed / len(rows) if rows else 1:.1%} | {score:.1%} | {took[name] / 60:.0f} min |")
        survivors += [(name, r) for r in survived]
        survivors += [(name, {**r, "equivalent": reviewed(r)}) for r in equivalent]
    lines += ["", "## Survivors", ""]
    for name, r in survivors:
        lines.append(f"### {name}: {r['file']}:{r['line']} {r['operator']}")
        if r.get("equivalent"):
            lines.append(f"Equivalent: {r['equivalent']}")
        lines += ["```diff", r["diff"].strip(), "```", ""]
    if stale:
        lines += ["## Reviews that match no line any more", ""]
        lines += [f"- {file}: `{piece}` ({operator})" for file, piece, operator in stale]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", nargs="*", choices=sorted(TARGETS), default=sorted(TARGETS))
    parser.add_argument("--timeout", type=float, default=300, help="Seconds a test run may take before it counts "
                        "as killed (a mutant that hangs).")
    parser.add_argument("--out", type=Path, default=ROOT / "test-output" / "mutation" / "report.md")
    parser.add_argument("--keep", action="store_true", help="Keep the working copy (its cosmic-ray sessions).")
    parser.add_argument("--sql-only", action="store_true", help="Only the pass over the engine's SQL.")
    parser.add_argument("--recheck", type=Path, help="A working copy kept (--keep) by an earlier run: refresh it "
                        "from the checkout and run only its survivors again.")
    args = parser.parse_args()
    work = args.recheck or Path(tempfile.mkdtemp(prefix="catalogsync-mutation-"))
    results: dict[str, list[dict]] = {}
    took: dict[str, float] = {}
    try:
        copy_checkout(work)  # (for --recheck: the tests as they are now; the mutated modules must not have changed)
        stale = stale_reviews(work)
        for name in args.target:
            target = TARGETS[name]
            if run_tests(work, target.tests, args.timeout) != "survived":
                print(f"{name}: the tests fail without any mutant; fix them first", file=sys.stderr)
                return 1
            started = time.monotonic()
            print(f"{name}: cosmic-ray on {', '.join(target.modules)}", flush=True)
            rows = [] if args.sql_only else cosmic_ray(work, target, args.timeout, recheck=bool(args.recheck))
            if target.sql:
                print(f"{name}: SQL conditions", flush=True)
                rows += sql_pass(work, target, args.timeout)
            results[name] = rows
            took[name] = time.monotonic() - started
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(report(results, took, stale), encoding="utf-8")  # after each target: partial
        print(report(results, took, stale).split("## Survivors")[0])
        print(f"report: {args.out}")
    finally:
        if args.keep or args.recheck:
            print(f"working copy kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
