FROM alpine:3.20
RUN apk upgrade --no-cache
USER 10001
