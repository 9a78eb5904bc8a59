#!/bin/bash
# The bare host's PID 1 (under --init): a Docker engine in the background, sshd in front.
#
#   AUTHORIZED_KEY   the public key that may log in as `deploy` (required)
#   DOCKERD_FLAGS    extra dockerd flags (default: none)
#
# dockerd runs without a bridge or iptables rules: the deploy runs its containers on the host's
# network, and a nested engine must not touch the outer network's routes.
set -euo pipefail

log() { echo "bare-host: $*" >&2; }

if [[ -z ${AUTHORIZED_KEY:-} ]]; then
    log "AUTHORIZED_KEY is not set: nobody could log in"
    exit 2
fi
install -d -o deploy -g deploy -m 0700 /home/deploy/.ssh
printf '%s\n' "$AUTHORIZED_KEY" >/home/deploy/.ssh/authorized_keys
chown deploy:deploy /home/deploy/.ssh/authorized_keys
chmod 0600 /home/deploy/.ssh/authorized_keys

ssh-keygen -A >/dev/null # fresh host keys for every container

# shellcheck disable=SC2086 # DOCKERD_FLAGS is a list of flags
dockerd --storage-driver vfs --bridge none --iptables=false --ip6tables=false \
    --log-level warn ${DOCKERD_FLAGS:-} >/var/log/dockerd.log 2>&1 &

for _ in $(seq 1 60); do
    docker version >/dev/null 2>&1 && break
    sleep 0.5
done
if ! docker version >/dev/null 2>&1; then
    log "dockerd did not start:"
    tail -n 20 /var/log/dockerd.log >&2
    exit 1
fi
log "dockerd $(docker version --format '{{.Server.Version}}') is up; starting sshd"
exec /usr/sbin/sshd -D -e
