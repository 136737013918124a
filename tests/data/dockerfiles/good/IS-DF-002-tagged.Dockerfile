FROM debian:12-slim
USER 10001
