package dashboard

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/llm-proxy/llm-proxy/handlers/dashboard/dashboardtest"
	"github.com/llm-proxy/llm-proxy/stats"
)

// TestBrowser_LiveDashboard logs in with a real browser and watches the
// figures follow Recorder.Record over the websocket, with no HTTP request
// after the page has loaded.
func TestBrowser_LiveDashboard(t *testing.T) {
	dashboardtest.RequireChromium(t)
	ta := newTestApp(t)
	base := ta.listen(t)
	for _, e := range browserEvents(6) {
		ta.rec.Record(e)
	}

	w := dashboardtest.LoginAndWatch(t, base, testKey, func() {
		for _, e := range browserEvents(18) {
			ta.rec.Record(e)
			time.Sleep(25 * time.Millisecond) // spread over a few batches and seconds
		}
	})
	t.Logf("total-requests %s → %s; screenshot %s", w.Before, w.After, w.Screenshot)
	if w.Before != "6" {
		t.Errorf("total-requests before traffic = %q, want 6", w.Before)
	}
	b := w.Browser
	b.WaitJS(t, "all 24 requests", `document.querySelector('[data-testid="total-requests"]').textContent === "24"`, 3*time.Second)

	// Client-chosen text is shown as text, never parsed as HTML.
	n, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll('#recent-body img, #recent-body b').length`))
	if err != nil || n != 0 {
		t.Errorf("markup from a model name reached the DOM: %d elements (%v)", n, err)
	}
	shown, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](
		`Array.from(document.querySelectorAll('#recent-body td.model')).some(td => td.textContent.startsWith('<img src=x'))`))
	if err != nil || !shown {
		t.Errorf("the model name with markup is not shown as text (%v)", err)
	}
	if title, _ := chromedp.Run(b.Ctx, chromedp.Title()); title == "pwned" {
		t.Error("a model name ran script")
	}
	for _, id := range []string{"success-count", "failure-count", "success-rate", "rate-limit-count", "uptime"} {
		if txt := b.Text(t, `[data-testid="`+id+`"]`); txt == "" || txt == "—" {
			t.Errorf("%s shows %q", id, txt)
		}
	}
	if got := b.Text(t, `#targets`); !strings.Contains(got, "openai-2") {
		t.Errorf("targets list = %q, want the targets", got)
	}

	// The uptime ticks by itself.
	up := b.TextContent(t, `[data-testid="uptime"]`)
	b.WaitJS(t, "the uptime to tick", `document.querySelector('[data-testid="uptime"]').textContent !== `+jsQuote(up), 3*time.Second)

	// The attempt trail of a retried request opens on click.
	if err := chromedp.Do(b.Ctx, chromedp.Click(chromedp.CSS(`#recent-body .trail-btn`))); err != nil {
		t.Fatalf("opening an attempt trail: %v", err)
	}
	b.WaitJS(t, "the attempt trail", `document.querySelectorAll('#recent-body tr.trail .trail-step').length >= 1`, 3*time.Second)

	// A dropped connection shows "disconnected" and comes back by itself,
	// still without any HTTP request.
	ta.d.hub.mu.Lock()
	for c := range ta.d.hub.clients {
		signal(c, 1012) // service restart
	}
	ta.d.hub.mu.Unlock()
	b.WaitJS(t, "the disconnected state", `document.body.dataset.conn === "reconnecting" && getComputedStyle(document.getElementById("banner")).display !== "none"`, 3*time.Second)
	b.WaitJS(t, "the reconnection", `document.body.dataset.conn === "live"`, 5*time.Second)
	ta.rec.Record(sampleEvent("after-reconnect"))
	b.WaitJS(t, "an update after reconnecting", `document.querySelector('[data-testid="total-requests"]').textContent === "25"`, 3*time.Second)
	if after := b.RequestsSinceLoad(); len(after) > 0 {
		t.Errorf("HTTP requests after load: %v", after)
	}

	// When the session ends, the page goes back to the login form.
	ta.d.sessions.mu.Lock()
	clear(ta.d.sessions.m)
	ta.d.sessions.mu.Unlock()
	ta.d.hub.endSession(sessionIDOfAll(ta))
	// The page reloads itself, which interrupts a poll: poll again until the form shows.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := chromedp.Run(b.Ctx, chromedp.Poll[bool](`!!document.querySelector('input[type=password][name=key]')`,
			chromedp.WithPollingTimeout(time.Second)))
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the login form did not come back after the session ended: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sessionIDOfAll returns the session of the (single) live client.
func sessionIDOfAll(ta *testApp) sessionID {
	ta.d.hub.mu.Lock()
	defer ta.d.hub.mu.Unlock()
	for c := range ta.d.hub.clients {
		return c.session
	}
	return sessionID{}
}

func jsQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// browserEvents makes n varied requests: streams, retries, a rate limit
// that every attempt hit, an upstream error, and a model name with markup.
func browserEvents(n int) []*stats.Event {
	models := []string{"gpt-4o-mini", "claude-sonnet-4-5", "gpt-4.1", `<img src=x onerror="document.title='pwned'"><b>bold</b>`}
	out := make([]*stats.Event, 0, n)
	for i := range n {
		e := sampleEvent(models[i%len(models)])
		e.LatencyMs = float64(300 + (i*137)%1500)
		e.TTFBMs = float64(60 + (i*41)%300)
		e.InputTokens, e.OutputTokens = 200+i*53, 40+i*17
		switch i % 6 {
		case 1:
			e.Route, e.Family, e.Stream = "/v1/messages", stats.FamilyAnthropic, false
			e.Attempts = e.Attempts[1:]
			e.RateLimits = 0
		case 3:
			e.Status, e.Outcome, e.Target = 429, stats.OutcomeRateLimited, ""
			e.Attempts = []stats.Attempt{
				{Target: "openai-1", Status: 429, Reason: "rate_limit", DurationMs: 20},
				{Target: "openai-2", Status: 429, Reason: "rate_limit", DurationMs: 25},
				{Target: "relay", Status: 429, Reason: "rate_limit", DurationMs: 31},
			}
			e.RateLimits, e.InputTokens, e.OutputTokens, e.TTFBMs = 3, 0, 0, 0
			e.Error = "every attempt was rate limited"
		case 5:
			e.Status, e.Outcome = 400, stats.OutcomeUpstreamError
			e.Attempts = []stats.Attempt{{Target: "relay", Status: 400, Reason: "client_error", DurationMs: 44}}
			e.RateLimits, e.InputTokens, e.OutputTokens, e.Stream = 0, 0, 0, false
			e.Error = fmt.Sprintf("upstream said: invalid request #%d", i)
		}
		out = append(out, e)
	}
	return out
}
