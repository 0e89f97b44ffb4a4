# authz as a static binary on a distroless base, running as a non-root user.
# docker build -t authz . && docker run -v $PWD/authz.yaml:/etc/authz/authz.yaml authz
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# -tags nodemo: no demo, and so no test IdP, in the image.
# docker build --build-arg VERSION=$(git describe --tags --always) --build-arg COMMIT=$(git rev-parse --short=12 HEAD)
ARG VERSION=(devel)
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath -tags nodemo \
    -ldflags="-s -w -X github.com/authz-dev/authz/internal/buildinfo.version=${VERSION} -X github.com/authz-dev/authz/internal/buildinfo.commit=${COMMIT}" \
    -o /out/authz ./cmd/authz

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/authz /usr/local/bin/authz
# distroless's nonroot, by number: kubelet can verify runAsNonRoot only for
# a numeric user, and the Helm chart runs as (and fsGroups to) this one.
USER 65532:65532
EXPOSE 9191 8181
ENTRYPOINT ["/usr/local/bin/authz"]
# authz listens on loopback unless told otherwise; in a container the
# network namespace is the boundary, so the image listens on its
# interfaces. These flags override grpc.addr and http.addr: drop them to
# use the config's.
CMD ["serve", "-config", "/etc/authz/authz.yaml", "-watch", "-grpc-addr", ":9191", "-http-addr", ":8181"]
