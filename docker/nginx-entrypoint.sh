#!/bin/bash
# The nginx container's entrypoint: start nginx and keep its upstream addresses current.
#
#   nginx-entrypoint nginx -g 'daemon off;'   start (the image's CMD)
#   nginx-entrypoint health                   the HEALTHCHECK: stub_status answers
#   nginx-entrypoint status                   print stub_status
#   nginx-entrypoint reload                   test the configuration, then reload gracefully
#
# nginx 1.22 resolves an upstream's `server NAME:PORT` once, when it loads its configuration
# (`resolve` is not in the free version), and refuses to start if a name does not resolve. So
# nginx never reads the names: the configuration in CONF_DIR is rendered into LIVE_DIR with each
# name replaced by its current address, or by a `down` placeholder while its container is gone
# (nginx then starts and serves with the replicas it has). A watcher renders again every few
# seconds and, when the result differs, reloads nginx gracefully: new workers use the new
# addresses while the old ones finish what they are serving.
set -euo pipefail

CONF_DIR=/etc/nginx/cluster
LIVE_DIR=/etc/nginx/live
STATUS_PORT=${NGINX_STATUS_PORT:-8081}
WATCH_INTERVAL=${NGINX_WATCH_INTERVAL:-3}

log() { echo "nginx-entrypoint: $*" >&2; }

upstream_names() {
    # the hostnames of `server NAME:PORT` lines (upstream members; `server {` never matches)
    sed -n 's/^[[:space:]]*server[[:space:]]\{1,\}\([a-z][a-z0-9.-]*\):[0-9]\{1,\}[[:space:];].*/\1/p' \
        "$CONF_DIR"/*.conf | sort -u
}

substitutions() {
    # one sed expression per upstream name: a `server` line per address it has now (a scaled
    # service has several; sorted, since DNS answers in varying order), or one placeholder
    # marked down while it has none
    local name addrs addr lines line='^\([[:space:]]*server[[:space:]]\{1,\}\)NAME:\([0-9]*\)\([^;]*\);'
    for name in $(upstream_names); do
        addrs=$(getent ahostsv4 "$name" 2>/dev/null | awk '{ print $1 }' | sort -u) || true
        if [[ -z $addrs ]]; then
            lines="\\1127.0.0.1:\\2\\3 down; # $name: not running"
        else
            lines=""
            for addr in $addrs; do
                lines+="${lines:+\\n}\\1$addr:\\2\\3;"
            done
        fi
        echo "s/${line/NAME/$name}/$lines/"
    done
}

node_gateway() {
    # this container's default gateway: on a Swarm task with published ports, the node's end of
    # docker_gwbridge, where the node's own connections come from (deploy/nginx-prometheus.conf);
    # 127.0.0.1 (nginx itself only) without one
    local hex
    hex=$(awk '$2 == "00000000" { print $3; exit }' /proc/net/route)
    if [[ ${#hex} -ne 8 ]]; then
        echo 127.0.0.1
        return
    fi
    printf '%d.%d.%d.%d\n' "0x${hex:6:2}" "0x${hex:4:2}" "0x${hex:2:2}" "0x${hex:0:2}"
}

render() {
    # CONF_DIR -> LIVE_DIR with the current addresses; prints the rendered text (for comparing)
    local script conf gateway
    script=$(substitutions)
    gateway=$(node_gateway)
    mkdir -p "$LIVE_DIR"
    for conf in "$CONF_DIR"/*.conf; do
        sed -e "$script" -e "s/@node_gateway/$gateway/g" "$conf" >"$LIVE_DIR/$(basename "$conf").new"
    done
    for conf in "$LIVE_DIR"/*.new; do
        mv "$conf" "${conf%.new}"
    done
    cat "$LIVE_DIR"/*.conf
}

watch_upstreams() {
    local loaded=$1 now
    while sleep "$WATCH_INTERVAL"; do
        now=$(render)
        [[ $now == "$loaded" ]] && continue
        if nginx -t -q && nginx -s reload; then
            log "upstream addresses changed; reloaded:" $(grep -o '# [a-z0-9.-]*: not running' <<<"$now" | cut -c3- | xargs)
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
reload) render >/dev/null && nginx -t -q && exec nginx -s reload ;;
nginx)
    rendered=$(render) # before nginx starts (inside `... &` it would run in the background)
    watch_upstreams "$rendered" &
    exec "$@"
    ;;
*) exec "$@" ;;
esac
