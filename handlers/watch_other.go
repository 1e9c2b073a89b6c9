//go:build !linux

package handlers

import (
	"time"

	"github.com/valyala/fasthttp"
)

// watchClient is a no-op off Linux: a client that leaves while the proxy
// waits is noticed when its answer cannot be written.
func watchClient(*fasthttp.RequestCtx, time.Duration, func()) (stop func()) { return func() {} }
