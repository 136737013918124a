FROM golang:1.22 AS build
RUN go build -o /app .

FROM golang:1.22
COPY --from=build /app /app
USER 10001
