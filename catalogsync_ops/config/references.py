"""`${NAME}` references in catalogsync.env, expanded as python-dotenv expands them, in linear time,
and never carrying a secret into another setting."""
from __future__ import annotations

import bisect
import os
import re
from collections import ChainMap

from catalogsync_ops.config.settings import SECRET_KEYS, SETTINGS_BY_KEY

# A name that reads as a secret's (beside the secret settings themselves).
SECRET_WORDS = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|WEBHOOK|PRIVATE|CREDENTIAL|API_?KEY|ACCESS_KEY", re.I)


def _secret_name(name: str) -> bool:
    """A name whose value must not be copied into another setting: a secret setting's, or one
    that reads as a secret (AWS_SECRET…, DB_PASSWORD, …)."""
    return name in SECRET_KEYS or bool(SECRET_WORDS.search(name))


# The one setting a secret may be given to by reference, from the process environment
# (`OBJECT_SECRET_ACCESS_KEY=${S3_SECRET}`, as a container's secrets are handed in): a credential
# sent only to the bucket it opens. A URL (the webhook) is where text goes out: it gets none.
SECRET_RECEIVERS = frozenset({"OBJECT_SECRET_ACCESS_KEY"})


def _expand(value: str, env, key: str, refused: list[str]) -> str:
    """`${NAME}` and `${NAME:-default}` as python-dotenv expands them (dotenv.variables), in time
    linear in the value (its regular expression is quadratic on a run of `${`). A reference to a
    secret stays as written unless `key` may receive it (SECRET_RECEIVERS, from the environment
    only); the names so refused are added to `refused`."""
    if "${" not in value:
        return value
    stops = [m.start() for m in re.finditer(r"[}:]", value)]
    braces = [m.start() for m in re.finditer(r"}", value)]
    out: list[str] = []
    cursor = search = 0
    while (start := value.find("${", search)) >= 0:
        stop = stops[index] if (index := bisect.bisect_left(stops, start + 2)) < len(stops) else -1
        if stop < 0:
            break  # no `}` (nor `:`) follows: nothing further can be a reference
        end = default = None
        if value[stop] == "}":
            end = stop + 1
        elif value.startswith(":-", stop):
            brace = braces[index] if (index := bisect.bisect_left(braces, stop + 2)) < len(braces) else -1
            if brace < 0:
                break
            default, end = value[stop + 2:brace], brace + 1
        if end is None:
            search = start + 1
            continue
        name = value[start + 2:stop]
        out.append(value[cursor:start])
        if _secret_name(name) and not (key in SECRET_RECEIVERS and name not in SETTINGS_BY_KEY):
            out.append(value[start:end])
            refused.append(name)
        else:
            found = env.get(name, default if default is not None else "")
            out.append(found if found is not None else "")
        cursor = search = end
    out.append(value[cursor:])
    return "".join(out)


def resolve(raw: list[tuple[str, str | None]]) -> tuple[dict[str, str | None], dict[str, list[str]]]:
    """python-dotenv's `resolve_variables(…, override=True)`: `${VAR}` reads the keys above it,
    then the process environment. Also, per key, the secret names it referred to and did not get."""
    new_values: dict[str, str | None] = {}
    refused: dict[str, list[str]] = {}
    env = ChainMap(new_values, os.environ)
    for name, value in raw:
        names: list[str] = []
        new_values[name] = None if value is None else _expand(value, env, name, names)
        if names:
            refused[name] = names
    return new_values, refused
