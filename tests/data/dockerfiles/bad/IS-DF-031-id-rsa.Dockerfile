FROM debian:12-slim
COPY id_rsa /root/.ssh/id_rsa
USER 10001
