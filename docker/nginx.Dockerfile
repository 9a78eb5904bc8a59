# The load balancer: Debian's nginx 1.22 with the stream module (FTP and echo), configuration
# from nginx/ in the repository.
FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="server-cluster nginx" server-cluster.image="nginx"

# policy-rc.d keeps the package scripts from starting nginx inside the build.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nginx libnginx-mod-stream \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* /etc/nginx/conf.d/*

COPY nginx/ /etc/nginx/cluster/
COPY docker/nginx-entrypoint.sh /usr/local/bin/nginx-entrypoint
RUN ln -sf /etc/nginx/cluster/nginx.conf /etc/nginx/nginx.conf

EXPOSE 8080 8443 2121 7000 7000/udp
# QUIT is nginx's graceful shutdown: requests in flight finish (bounded by worker_shutdown_timeout).
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 \
    CMD ["nginx-entrypoint", "health"]
ENTRYPOINT ["nginx-entrypoint"]
CMD ["nginx", "-g", "daemon off;"]
