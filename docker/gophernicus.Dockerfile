# syntax=docker/dockerfile:1
# A real legacy gopherd for the compose stack: Debian's gophernicus, inetd-style under
# socat, as an unprivileged user, serving examples/gopherroot on port 7070.
# Build from the repository root: docker build -f docker/gophernicus.Dockerfile .
FROM debian:bookworm-slim
RUN --mount=type=bind,source=scripts/docker-gopherd.sh,target=/mnt/docker-gopherd.sh \
    /mnt/docker-gopherd.sh install gophernicus
COPY scripts/docker-gopherd.sh /usr/local/bin/docker-gopherd
COPY examples/gopherroot/ /srv/gopher/
ENV GOPHERD_PORT=7070 GOPHERD_ROOT=/srv/gopher GOPHERD_HOST=gopher.test GOPHERD_PUBLIC_PORT=70
USER nobody
EXPOSE 7070
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/7070"]
CMD ["/usr/local/bin/docker-gopherd", "gophernicus"]
