FROM debian:12-slim AS base
USER root

FROM base
RUN echo inherits the base stage user
