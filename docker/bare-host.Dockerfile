# A "bare host" for the Fabric deploy tests (tests/deploy/): what `fab deploy` expects of a real
# machine and nothing more -- sshd and a Docker engine (Debian's docker.io), no Python, no
# registry. Each container runs its own dockerd on the vfs storage driver (the only one that
# works nested without --privileged), its data in /var/lib/docker (give it a volume).
#
#   docker run -d --init --cap-add ALL --cap-drop SYS_RESOURCE \
#       --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#       -e AUTHORIZED_KEY="ssh-ed25519 AAAA..." -v VOLUME:/var/lib/docker \
#       -p 127.0.0.1::22 bare-host
#
# Host keys are made when the container starts (never baked into the image), and the login is
# `deploy` (key only, member of the docker group). The public key comes in AUTHORIZED_KEY.
FROM debian:bookworm-slim

RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        openssh-server docker.io \
    && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*_key* \
    && useradd --create-home --shell /bin/bash --groups docker deploy \
    && install -d -m 0755 /run/sshd

COPY docker/bare-host-sshd.conf /etc/ssh/sshd_config.d/bare-host.conf
COPY docker/bare-host-entrypoint.sh /usr/local/sbin/bare-host-entrypoint

EXPOSE 22
VOLUME /var/lib/docker
ENTRYPOINT ["bare-host-entrypoint"]
