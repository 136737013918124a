FROM debian:12-slim
COPY deploy/kubeconfig /etc/app/kubeconfig
USER 10001
