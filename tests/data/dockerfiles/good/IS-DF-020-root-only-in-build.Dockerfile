FROM debian:12-slim AS build
USER root
RUN echo build

FROM debian:12-slim
COPY --from=build /etc/hostname /x
USER app
