FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y build-essential && make

FROM debian:12-slim
COPY --from=build /src/app /usr/local/bin/app
USER 10001
