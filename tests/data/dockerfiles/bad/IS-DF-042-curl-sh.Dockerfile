FROM debian:12-slim
RUN curl -fsSL https://get.example.com/install.sh | sh
USER 10001
