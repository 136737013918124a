FROM debian:12-slim
RUN set -eux; \
    wget -qO- https://example.com/setup \
      | bash -s -- --yes
USER 10001
