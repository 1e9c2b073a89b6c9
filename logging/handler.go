package logging

import (
	"context"
	"log/slog"
)

// Handler is the proxy's slog.Handler: slog's text or JSON handler writing
// through a Writer. A record at level Error or above is flushed before
// Handle returns, so it reaches the output even if the process dies next.
type Handler struct {
	inner slog.Handler
	w     *Writer
	json  bool
	// derived: made by WithAttrs or WithGroup, so the fast request line
	// (which has no room for extra attributes) is not used.
	derived bool
}

// NewHandler returns a text handler, or a JSON one when json is set, with
// opts, writing to w.
func NewHandler(w *Writer, json bool, opts *slog.HandlerOptions) *Handler {
	h := &Handler{w: w, json: json}
	if json {
		h.inner = slog.NewJSONHandler(w, opts)
	} else {
		h.inner = slog.NewTextHandler(w, opts)
	}
	return h
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.inner.Handle(ctx, r)
	if r.Level >= slog.LevelError {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(attrs), w: h.w, json: h.json, derived: true}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), w: h.w, json: h.json, derived: true}
}
