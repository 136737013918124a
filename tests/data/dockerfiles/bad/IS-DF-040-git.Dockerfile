FROM debian:12-slim
ADD https://github.com/acme/repo.git#v1.0 /src
USER 10001
