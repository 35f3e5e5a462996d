# syntax=docker/dockerfile:1
#
# Build:  docker build -t acqueon_exporter .
# Run:    docker run -p 9817:9817 acqueon_exporter --demo
#
# The builder is pinned to the Go release the module is tested with.
FROM golang:1.26.8-bookworm AS build

WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .

ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=main
RUN CGO_ENABLED=0 go build -trimpath -o /out/acqueon_exporter \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH} \
        -X github.com/prometheus/common/version.BuildUser=docker \
        -X github.com/prometheus/common/version.BuildDate=unknown" \
      . \
 && /out/acqueon_exporter --version \
 && /out/acqueon_exporter --mapping.check

# distroless/static carries CA certificates and zone data, runs as a
# non-root user and has no shell.
FROM gcr.io/distroless/static-debian12:nonroot

LABEL org.opencontainers.image.title="acqueon_exporter" \
      org.opencontainers.image.description="Prometheus exporter for the Acqueon Performance Metrics feed"

COPY --from=build /out/acqueon_exporter /bin/acqueon_exporter

USER 65532:65532
EXPOSE 9817
ENTRYPOINT ["/bin/acqueon_exporter"]
