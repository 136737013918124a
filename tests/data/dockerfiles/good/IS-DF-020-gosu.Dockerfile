FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends gosu && rm -rf /var/lib/apt/lists/*
USER root
ENTRYPOINT ["gosu", "app", "/usr/local/bin/app"]
