# Monitoring (compose profile `monitoring`): Debian's Prometheus 2.42 and its nginx exporter 0.11
# in one image, run as two services (compose.yaml picks the program by `entrypoint`): one apt
# build and one image to move, yet each service is one process with its own restart and health.
# Configuration from monitoring/ in the repository.
FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="server-cluster prometheus" server-cluster.image="prometheus"

# policy-rc.d keeps the package scripts from starting the daemons inside the build.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        prometheus prometheus-nginx-exporter \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o prometheus -g prometheus /prometheus

COPY monitoring/ /etc/prometheus/cluster/

USER prometheus
WORKDIR /prometheus
EXPOSE 9090 9113
ENTRYPOINT ["prometheus"]
CMD ["--config.file=/etc/prometheus/cluster/prometheus.yml", "--storage.tsdb.path=/prometheus"]
