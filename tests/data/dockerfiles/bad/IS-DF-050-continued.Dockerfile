FROM debian:12-slim
RUN apt-get update \
 # comment inside a continuation
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      curl
USER 10001
