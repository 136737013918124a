FROM golang:1.22 AS Build
RUN go build -o /app .

FROM build AS test
RUN go test ./...

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=BUILD /app /app
