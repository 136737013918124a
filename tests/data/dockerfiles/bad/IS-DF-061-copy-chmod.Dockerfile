# syntax=docker/dockerfile:1
FROM debian:12-slim
COPY --chmod=777 run.sh /run.sh
USER 10001
