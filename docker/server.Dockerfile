# The server package on Debian's python3: one image for every service (http, ftp, echo), picked
# by the command or by SERVER_* environment variables. Stdlib only, so no pip in here.
#
# Two stages: Debian's python3 is installed in the first, and only what it runs (python3, its
# standard library, the libraries they load, busybox for a shell) is copied onto an empty image
# (docker/slim-rootfs.sh): about 45 MB instead of 300 MB to move to every host.
FROM debian:bookworm-slim AS python
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 busybox-static \
    && rm -rf /var/lib/apt/lists/*
COPY docker/slim-rootfs.sh /usr/local/bin/slim-rootfs
# A fixed uid/gid, so files in the shared library volume belong to the same user in every
# replica. /srv/library is the mount point of that volume; its contents and ownership here are
# what Docker copies into the volume when it is first mounted.
ARG SERVER_UID=10001
RUN slim-rootfs /rootfs \
    && echo "server:x:$SERVER_UID:$SERVER_UID:server:/srv:/sbin/nologin" >>/rootfs/etc/passwd \
    && echo "server:x:$SERVER_UID:" >>/rootfs/etc/group \
    && install -d -o "$SERVER_UID" -g "$SERVER_UID" -m 0755 /rootfs/srv/library

FROM scratch
LABEL org.opencontainers.image.title="server-cluster server" server-cluster.image="server"
COPY --from=python /rootfs/ /
COPY --chown=server:server docker/library/ /srv/library/

# The package last: a code change rebuilds only this layer. Compiled here, as root, because the
# non-root user cannot write next to the sources.
COPY server/ /opt/server/server/
RUN python3 -m compileall -q /opt/server

ENV PYTHONPATH=/opt/server \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SERVER_BIND=0.0.0.0:8080 \
    SERVER_ROOT=/srv/library \
    SERVER_PROBE_URL=http://127.0.0.1:8080/-/health \
    SERVER_PROBE_TIMEOUT=3

USER server
WORKDIR /srv
EXPOSE 8080 2121 7000 7000/udp

# Each container sets SERVER_PROBE_URL to fit its service (ftp://, tcp://, udp://). A check
# starts a Python process (tens of ms of CPU), so every 10 s; `fab deploy` gates a new version
# on its own, faster `docker exec` of the same probe.
HEALTHCHECK --interval=10s --timeout=4s --start-period=30s --retries=3 \
    CMD ["python3", "-m", "server", "probe"]

ENTRYPOINT ["python3", "-m", "server"]
CMD ["http"]
