FROM debian:12-slim
COPY --from=ghcr.io/acme/tool:1.0 /tool /usr/local/bin/tool
USER 10001
