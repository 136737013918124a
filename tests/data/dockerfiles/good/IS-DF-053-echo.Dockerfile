FROM alpine:3.20
RUN echo "run apk upgrade on the host" > /README
USER 10001
