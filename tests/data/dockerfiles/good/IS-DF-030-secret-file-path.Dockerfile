FROM debian:12-slim
ENV DB_PASSWORD_FILE=/run/secrets/db TOKEN_URL=https://auth.example.com/token
ARG VERSION=1.2.3
LABEL org.opencontainers.image.version=1.2.3
USER 10001
