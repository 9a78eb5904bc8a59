# The versions the deploy tests roll out: the server image (docker/server.Dockerfile, built as
# BASE) with a version label and one small layer of its own, as a code change would add; the
# version is also in the FTP library (version.txt), whose demo user (docker/ftp-users) can write.
#   --build-arg VERSION=v2                       a healthy version
#   --build-arg VERSION=v3 --target unhealthy    one whose health check can never pass
ARG BASE=server-deploy-test/server:base
FROM ${BASE} AS healthy
ARG VERSION=dev
LABEL org.opencontainers.image.version=${VERSION}
USER root
COPY docker/ftp-users /etc/server/ftp-users
# (the image's shell is busybox: no `install`)
RUN echo "${VERSION}" > /etc/server-version \
    && cp /etc/server-version /srv/library/version.txt \
    && chown server:server /srv/library/version.txt && chmod 0644 /srv/library/version.txt
USER server

FROM healthy AS unhealthy
HEALTHCHECK --interval=5s --timeout=4s --start-period=30s --retries=3 CMD ["false"]
# Swarm runs the stack's health check (compose.yaml's: the probe), not the image's: the probe
# fails too, while the server itself runs and serves (tests/swarm/).
USER root
RUN echo 'raise SystemExit("this version never passes a health check")' \
    > /opt/server/server/commands/probe.py
USER server

# The last stage is what a build without --target makes: the healthy one.
FROM healthy
