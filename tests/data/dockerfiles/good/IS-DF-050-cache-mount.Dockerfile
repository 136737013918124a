# syntax=docker/dockerfile:1
FROM debian:12-slim
RUN --mount=type=cache,target=/var/lib/apt/lists --mount=type=cache,target=/var/cache/apt \
    apt-get update && apt-get install -y --no-install-recommends curl
USER 10001
