#!/bin/sh
# The image's entry point. Prepares /config (a new one gets `runnerd init`), then runs one
# service as the NAS user PUID:PGID with UMASK, so the library's files are that user's.
#
#   catalogsync runnerd          the daemon (runnerd run)
#   catalogsync runnerd ARGS     the CLI as the NAS user: runnerd status, runnerd enqueue …
#   catalogsync web [ARGS]       the console (catalogsync-web serve), on WEB_PORT (8421)
#   catalogsync demo [ARGS]      the demo platform, its pool written to /config/input/demo.txt
#   catalogsync init             only prepare /config
#   catalogsync health           the health check of whichever service this container runs
#   catalogsync COMMAND ...      anything else, as the NAS user
set -eu

PUID=${PUID:-1000}
PGID=${PGID:-1000}
umask "${UMASK:-022}"
export HOME=/config CATALOGSYNC_ENV_FILE="${CATALOGSYNC_ENV_FILE:-/config/catalogsync.env}"
ENV_FILE=$CATALOGSYNC_ENV_FILE

as_user() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid="$PUID" --regid="$PGID" --clear-groups "$@"
    else
        "$@"
    fi
}

own() {
    if [ "$(id -u)" = 0 ]; then
        # /config is small and ours: whatever in it is not the NAS user's becomes so. The music
        # and backup folders are only taken when they are new and empty (made by the engine for
        # a missing path); a share with its own owners is left as it is.
        find /config -xdev \( ! -user "$PUID" -o ! -group "$PGID" \) -exec chown -h "$PUID:$PGID" {} + 2>/dev/null || true
        for dir in /music /backup; do
            if [ -d "$dir" ] && [ "$(stat -c %u "$dir")" = 0 ] && [ -z "$(ls -A "$dir" 2>/dev/null)" ]; then
                chown "$PUID:$PGID" "$dir"
            fi
        done
    fi
}

prepare() {
    own
    if [ ! -e "$ENV_FILE" ]; then
        # Both services may start at once: one of them makes the home, the other waits for it.
        as_user flock /config/.init.lock sh -c '[ -e "$1" ] || runnerd init --home /config \
            --set LIBRARY_DIR=/music --set MIRROR_DIR=/backup --set WEB_HOST=0.0.0.0' init "$ENV_FILE"
    fi
}

web_port() {
    port=$(sed -n 's/^WEB_PORT=//p' "$ENV_FILE" 2>/dev/null | tail -n 1 | tr -d "\"' ")
    echo "${port:-8421}"
}

exec_as_user() {
    if [ "$(id -u)" = 0 ]; then
        exec setpriv --reuid="$PUID" --regid="$PGID" --clear-groups "$@"
    fi
    exec "$@"
}

command=${1:-runnerd}
[ $# -gt 0 ] && shift
case "$command" in
    runnerd)
        prepare
        [ $# -gt 0 ] || set -- run
        exec_as_user runnerd "$@"
        ;;
    web)
        prepare
        exec_as_user catalogsync-web serve "$@"
        ;;
    demo)
        # The demo platform, for trying it out (compose's `demo` profile shares the runner's
        # network, so it answers at the default DEMO_BASE_URL, http://127.0.0.1:8765).
        prepare
        exec_as_user runnerd demo-server --pool-file /config/input/demo.txt "$@"
        ;;
    init)
        prepare
        ;;
    health)
        # Which service this container runs is its first process's command line.
        if tr '\0' ' ' < /proc/1/cmdline | grep -q 'catalogsync-web'; then
            exec python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)' \
                "http://127.0.0.1:$(web_port)/healthz"
        fi
        exec_as_user runnerd status
        ;;
    *)
        own
        exec_as_user "$command" "$@"
        ;;
esac
