"""A separate process that claims and completes items with N threads until none is left.

Usage: python -m tests.helpers.claimer DB STAGE_ID THREADS OUT_JSON GO_FILE
Writes {"claimed": [...item ids...], "errors": [...messages...]} to OUT_JSON.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time

from catalogsync_ops.engine.items import claim_next_item, mark_item_succeeded
from catalogsync_ops.store.connection import connect


def main() -> None:
    db, stage_id, threads, out, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    claimed: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        conn = connect(db)
        mine = []
        try:
            while True:
                claim = claim_next_item(conn, stage_id, runner_instance_id=os.getpid(), worker_id=worker)
                if claim is None:
                    break
                mine.append(claim.item_id)
                mark_item_succeeded(conn, claim.item_id, claim.attempt_no)
        except Exception as exc:  # every error is reported to the test, none is swallowed
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()
            with lock:
                claimed.extend(mine)

    while not os.path.exists(go):
        time.sleep(0.005)
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    with open(out, "w") as handle:
        json.dump({"claimed": claimed, "errors": errors}, handle)


if __name__ == "__main__":
    main()
