FROM alpine:3.20 AS fetch
RUN wget -O /x.tgz https://example.com/x.tgz

FROM python:3.12-alpine
RUN apk add --no-cache --virtual .build-deps gcc musl-dev \
    && pip install --no-cache-dir psutil \
    && apk del .build-deps
USER 10001
