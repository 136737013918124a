# syntax=docker/dockerfile:1
FROM debian:12-slim
RUN <<EOF
set -e
./configure --prefix=/usr/local
make -j4 install
EOF
USER 10001
