FROM alpine:3.20
RUN apk add curl
USER 10001
