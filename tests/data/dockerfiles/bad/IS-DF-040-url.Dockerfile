FROM debian:12-slim
ADD https://example.com/releases/tool-1.0.tar.gz /opt/
USER 10001
