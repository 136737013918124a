FROM python:3.12-slim AS deps
RUN pip download -d /d requests

FROM python:3.12-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc libpq-dev \
    && rm -rf /var/lib/apt/lists/*
USER 10001
