FROM debian:12-slim AS base
USER 10001

FROM base
COPY app /app
