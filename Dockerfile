# mlseal on an empty image: one static binary, run as a non-root user.
#
#   docker build -t mlseal .
#   docker run --rm -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY mlseal version --verbose
#
# The binary is built without cgo, so it needs no C library, and it carries
# its own TLS roots (golang.org/x/crypto/x509roots/fallback), used because
# scratch has no certificate store: 'mlseal version --verbose' says which
# roots are in use. cmd/mlseal's TestStaticBinaryInEmptyRoot builds it the
# same way and runs it in an empty root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/mlseal ./cmd/mlseal \
 && mkdir -p /out/home/.config /out/tmp \
 && chown -R 65532:65532 /out/home \
 && chmod 1777 /out/tmp

FROM scratch
COPY --from=build /out/mlseal /usr/local/bin/mlseal
# A home for the default key and the config directory, and a /tmp for the
# temporary files of 'secrets exec --file'.
COPY --from=build /out/home /home/mlseal
COPY --from=build /out/tmp /tmp
ENV HOME=/home/mlseal XDG_CONFIG_HOME=/home/mlseal/.config
# 65532 is the conventional "nonroot" user of distroless images: no
# /etc/passwd is needed for a numeric user.
USER 65532:65532
WORKDIR /home/mlseal
ENTRYPOINT ["/usr/local/bin/mlseal"]
