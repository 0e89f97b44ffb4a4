GO ?= go
BIN := bin/authz

.PHONY: all build run test bench vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/authz

# The demo: an in-process IdP and authz on 127.0.0.1:9191 (gRPC) and :8181 (HTTP).
run: build
	./$(BIN) demo

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

clean:
	rm -rf bin
