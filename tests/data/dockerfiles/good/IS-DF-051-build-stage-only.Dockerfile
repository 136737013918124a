FROM alpine:3.20 AS fetch
RUN apk add curl && curl -fsSLo /x https://example.com/x

FROM alpine:3.20
COPY --from=fetch /x /x
USER 10001
