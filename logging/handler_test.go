package logging

import (
	"log/slog"
	"strings"
	"testing"
)

// An error line is out before the call returns; an info line may wait.
func TestHandler_Handle(t *testing.T) {
	var out syncBuffer
	w := NewWriter(&out)
	defer w.Close()
	l := slog.New(NewHandler(w, false, nil))
	l.Info("first")
	l.Error("broken", "err", "disk full")
	got := out.String()
	if !strings.Contains(got, "msg=first") || !strings.Contains(got, `msg=broken err="disk full"`) {
		t.Errorf("after an error line: got %q, want both lines", got)
	}
	l.With("component", "x").Error("again")
	if got := out.String(); !strings.Contains(got, "component=x msg=again") && !strings.Contains(got, "msg=again component=x") {
		t.Errorf("derived handler's error line: got %q", got)
	}
}

func TestHandler_JSON(t *testing.T) {
	var out syncBuffer
	w := NewWriter(&out)
	l := slog.New(NewHandler(w, true, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l.Info("hidden")
	l.WithGroup("g").Warn("shown", "k", 1)
	w.Close()
	got := out.String()
	if strings.Contains(got, "hidden") || !strings.Contains(got, `"msg":"shown","g":{"k":1}`) {
		t.Errorf("got %q", got)
	}
}
