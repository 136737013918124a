FROM debian:12-slim
ARG RUNAS=root
USER ${RUNAS}
