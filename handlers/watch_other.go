//go:build !linux

package handlers

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/upstream"
)

// clientWatch does nothing off Linux: a client that leaves while the proxy
// waits is noticed when its answer cannot be written.
type clientWatch struct{}

func watchClient(*fasthttp.RequestCtx, time.Duration, *upstream.Canceler) *clientWatch {
	return &clientWatch{}
}

func (*clientWatch) stop() {}
