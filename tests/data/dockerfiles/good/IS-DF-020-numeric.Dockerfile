FROM debian:12-slim
USER root
RUN useradd -r -u 10001 app
USER 10001:10001
