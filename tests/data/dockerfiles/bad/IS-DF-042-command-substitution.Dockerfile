FROM debian:12-slim
RUN sh -c "$(curl -fsSL https://example.com/install.sh)"
USER 10001
