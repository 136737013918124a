FROM registry.example.com/base/builder:1.2 AS build
RUN make

FROM registry.example.com/base/runtime:1.2
COPY --from=build /out /app
USER 10001
