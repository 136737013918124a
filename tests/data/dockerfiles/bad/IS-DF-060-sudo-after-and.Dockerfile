FROM debian:12-slim
RUN mkdir -p /app && sudo chown 10001 /app
USER 10001
