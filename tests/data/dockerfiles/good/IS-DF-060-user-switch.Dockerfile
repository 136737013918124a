FROM debian:12-slim
USER root
RUN mkdir -p /app && chown 10001 /app
USER 10001
