#!/bin/bash
# The nginx container's entrypoint: start nginx and keep its upstream addresses current.
#
#   nginx-entrypoint nginx -g 'daemon off;'   start (the image's CMD)
#   nginx-entrypoint health                   the HEALTHCHECK: stub_status answers
#   nginx-entrypoint status                   print stub_status
#   nginx-entrypoint reload                   test the configuration, then reload gracefully
#
# nginx 1.22 resolves an upstream's `server NAME:PORT` once, when it loads its configuration
# (`resolve` is not in the free version). A replica that is stopped and started again may come
# back on another address, so a watcher re-resolves the names every few seconds and, once every
# name resolves again and an address has changed, reloads nginx gracefully: new workers use the
# new addresses while the old ones finish what they are serving.
set -euo pipefail

CONF_DIR=/etc/nginx/cluster
STATUS_PORT=${NGINX_STATUS_PORT:-8081}
WATCH_INTERVAL=${NGINX_WATCH_INTERVAL:-3}

log() { echo "nginx-entrypoint: $*" >&2; }

upstream_names() {
    # the hostnames of `server NAME:PORT` lines (upstream members; `server {` never matches)
    sed -n 's/^[[:space:]]*server[[:space:]]\{1,\}\([a-z][a-z0-9.-]*\):[0-9]\{1,\}[[:space:];].*/\1/p' \
        "$CONF_DIR"/*.conf | sort -u
}

addresses() {
    # "NAME ADDRESS" per line, "NAME -" while a name does not resolve (its container is down)
    local name addr
    for name in $(upstream_names); do
        addr=$(getent ahostsv4 "$name" 2>/dev/null | awk 'NR == 1 { print $1 }') || true
        echo "$name ${addr:--}"
    done
}

wait_for_names() {
    local deadline=$((SECONDS + ${NGINX_WAIT_SECONDS:-30}))
    while addresses | grep -q ' -$'; do
        if ((SECONDS > deadline)); then
            log "not resolvable, starting anyway: $(addresses | awk '$2 == "-" { print $1 }' | xargs)"
            return
        fi
        sleep 1
    done
}

watch_upstreams() {
    local loaded=$1 now
    while sleep "$WATCH_INTERVAL"; do
        now=$(addresses)
        [[ $now == "$loaded" ]] && continue
        grep -q ' -$' <<<"$now" && continue # a replica is down: nginx -t would fail on it
        if nginx -t -q && nginx -s reload; then
            log "upstream addresses changed; reloaded:" $now
            loaded=$now
        fi
    done
}

stub_status() {
    # the body of http://127.0.0.1:$STATUS_PORT/stub_status (bash's /dev/tcp: no curl in here)
    exec 3<>"/dev/tcp/127.0.0.1/$STATUS_PORT" || return 1
    printf 'GET /stub_status HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
    timeout 2 sed '1,/^\r$/d' <&3
}

health() {
    local reply
    reply=$(stub_status 2>/dev/null) || true
    if [[ $reply != "Active connections"* ]]; then
        echo "unhealthy: no stub_status on port $STATUS_PORT"
        exit 1
    fi
    echo "healthy: ${reply%%$'\n'*}"
}

case "${1:-}" in
health) health ;;
status) stub_status ;;
reload) nginx -t -q && exec nginx -s reload ;;
nginx)
    wait_for_names
    watch_upstreams "$(addresses)" &
    exec "$@"
    ;;
*) exec "$@" ;;
esac
