#!/bin/bash
# The bare host's PID 1 (under --init): a Docker engine in the background, sshd in front.
#
#   AUTHORIZED_KEY   the public key that may log in as `deploy` (required)
#   DOCKERD_FLAGS    extra dockerd flags (default: none)
#   DOCKERD_IPTABLES true for a swarm node (default: false)
#
# dockerd runs without a bridge and, by default, without iptables rules: the deploy runs its
# containers on the host's network, and a nested engine must not touch the outer network's
# routes. A swarm node needs them (tests/swarm/): without its NAT rules, tasks on the overlay
# network cannot reach the other nodes' addresses.
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

# Without --privileged, Docker mounts the cgroup hierarchies read-only; the engine in here
# needs to create its containers' cgroups below ours. (CAP_SYS_ADMIN allows the remount.)
writable_cgroups() {
    local d
    if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then
        mount -o remount,rw /sys/fs/cgroup
        # cgroup v2: processes may not sit in a cgroup whose controllers are delegated, so
        # move ours into a leaf first (as docker:dind does)
        mkdir -p /sys/fs/cgroup/init
        xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
        sed 's/\b\(\w\)/+\1/g' /sys/fs/cgroup/cgroup.controllers \
            >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
        return
    fi
    for d in /sys/fs/cgroup/*/; do
        mountpoint -q "$d" && mount -o remount,bind,rw "$d"
    done
}
writable_cgroups || log "cannot make the cgroups writable: containers may fail to start"

# shellcheck disable=SC2086 # DOCKERD_FLAGS is a list of flags
dockerd --storage-driver vfs --bridge none --iptables="${DOCKERD_IPTABLES:-false}" --ip6tables=false \
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
