# syntax=docker/dockerfile:1
# aikwatch container image: a static, non-root build of the daemon.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t aikwatch .
#   docker run -d -p 10944:10944 -v aikwatch-data:/var/lib/aikwatch aikwatch
#
# docker-compose.yml in this directory runs it with Prometheus, Alertmanager and Grafana.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/aikwatch ./cmd/aikwatch \
 && mkdir -p /out/data

# distroless/static: CA certificates, tzdata, /etc/passwd with the nonroot user (65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/aikwatch /usr/local/bin/aikwatch
# The data directory belongs to the nonroot user; a new named volume mounted on it inherits that.
COPY --from=build --chown=65532:65532 /out/data /var/lib/aikwatch
USER 65532:65532
EXPOSE 10944
VOLUME /var/lib/aikwatch
ENTRYPOINT ["/usr/local/bin/aikwatch"]
CMD ["serve", "--data-dir", "/var/lib/aikwatch"]
