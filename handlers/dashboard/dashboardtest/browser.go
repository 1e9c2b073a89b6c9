// Package dashboardtest drives the dashboard in headless Chromium for tests:
// log in through the form, wait for the live feed, make traffic, watch the
// headline figures change without a reload, and check that the page makes no
// HTTP request after it has loaded. It is used by the dashboard's own browser
// test and can be pointed at the full app (any base URL serving the routes).
package dashboardtest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// ScreenshotEnv names an environment variable; when it is set, LoginAndWatch
// also writes its screenshot to that path.
const ScreenshotEnv = "LLMPROXY_SCREENSHOT"

// RequireChromium returns the browser's path. Without Chromium the test is
// skipped, unless the environment variable CI is set: then it fails, so
// that CI cannot pass by not running the browser tests.
func RequireChromium(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("browser test: %s not found and CI is set (install the chromium package): %v", ChromiumPath, err)
		}
		t.Skipf("browser test skipped: %s not found (apt-get install chromium); set CI=1 to make this a failure", ChromiumPath)
	}
	return ChromiumPath
}

// Browser is one headless Chromium tab with a fresh profile. It records the
// HTTP requests the page makes (websocket frames are not requests).
type Browser struct {
	// Ctx is the tab's context; run chromedp actions with it.
	Ctx context.Context

	mu       sync.Mutex
	requests []string // "METHOD URL (type)" of every HTTP request, in order
	mark     int      // len(requests) when MarkLoaded was called; -1 before
}

// NewBrowser starts Chromium with a window of width×height CSS pixels. The
// browser exits when the test ends. Every action should finish within
// timeout (the whole tab context expires after it).
func NewBrowser(t testing.TB, width, height int, timeout time.Duration) *Browser {
	t.Helper()
	path := RequireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	b := &Browser{Ctx: ctx, mark: -1}
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

// onEvent runs on chromedp's reader goroutine: only record, never block.
func (b *Browser) onEvent(ev any) {
	if e, ok := ev.(*network.EventRequestWillBeSent); ok {
		u := e.Request.URL
		if strings.HasPrefix(u, "ws:") || strings.HasPrefix(u, "wss:") || strings.HasPrefix(u, "data:") {
			return
		}
		b.mu.Lock()
		b.requests = append(b.requests, e.Request.Method+" "+u+" ("+string(e.Type)+")")
		b.mu.Unlock()
	}
}

// MarkLoaded notes that the page has finished loading: RequestsSinceLoad
// reports what comes after.
func (b *Browser) MarkLoaded() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mark = len(b.requests)
}

// Requests returns every HTTP request the tab made so far.
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.requests...)
}

// RequestsSinceLoad returns the HTTP requests made after MarkLoaded.
func (b *Browser) RequestsSinceLoad() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mark < 0 {
		return nil
	}
	return append([]string(nil), b.requests[b.mark:]...)
}

// Text returns the text of the first element matching the CSS selector.
func (b *Browser) Text(t testing.TB, css string) string {
	t.Helper()
	s, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("reading %s: %v", css, err)
	}
	return strings.TrimSpace(s)
}

// TextContent returns the DOM textContent of the first element matching
// the CSS selector (unlike Text, not affected by CSS text-transform).
func (b *Browser) TextContent(t testing.TB, css string) string {
	t.Helper()
	s, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.querySelector(`+jsString(css)+`).textContent`))
	if err != nil {
		t.Fatalf("reading %s: %v", css, err)
	}
	return s
}

// WaitJS polls the JavaScript expression until it is truthy or timeout passes.
func (b *Browser) WaitJS(t testing.TB, what, expr string, timeout time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(b.Ctx, chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingTimeout(timeout))); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// Screenshot captures the viewport as PNG into dir/name and returns the
// path; when the LLMPROXY_SCREENSHOT variable is set it copies the image there too.
func (b *Browser) Screenshot(t testing.TB, dir, name string) string {
	t.Helper()
	png, err := chromedp.Run(b.Ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("writing screenshot: %v", err)
	}
	if extra := os.Getenv(ScreenshotEnv); extra != "" {
		if err := os.WriteFile(extra, png, 0o644); err != nil {
			t.Errorf("writing screenshot to $%s=%s: %v", ScreenshotEnv, extra, err)
		} else {
			t.Logf("screenshot copied to %s", extra)
		}
	}
	return path
}

// Watch is what LoginAndWatch saw.
type Watch struct {
	// Browser is the tab, still open on the dashboard.
	Browser *Browser
	// Before and After are the total-requests figure before makeTraffic and
	// once it had changed.
	Before, After string
	// Screenshot is the path of the PNG taken after the figure changed.
	Screenshot string
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// LoginAndWatch opens baseURL in Chromium, types key into the login form's
// password field and presses Enter, waits until the dashboard is live (its
// websocket delivered the snapshot), then calls makeTraffic and expects
// [data-testid=total-requests] to change without a reload within 3 s. It
// fails the test when the page made any HTTP request after it had loaded
// (only the websocket may talk), takes a screenshot (see Screenshot), and
// checks that the 中文 toggle translates the labels and back.
func LoginAndWatch(t testing.TB, baseURL, key string, makeTraffic func()) *Watch {
	t.Helper()
	b := NewBrowser(t, 1360, 1000, 60*time.Second)
	baseURL = strings.TrimSuffix(baseURL, "/")

	if err := chromedp.Do(b.Ctx,
		chromedp.Navigate(baseURL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[type=password][name=key]`)),
		chromedp.SendKeys(chromedp.CSS(`input[type=password][name=key]`), key+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="total-requests"]`)),
	); err != nil {
		t.Fatalf("logging in to the dashboard at %s: %v", baseURL, err)
	}
	b.WaitJS(t, "the live feed", `document.readyState === "complete" && document.body.dataset.conn === "live"`, 10*time.Second)
	// Let anything the load started (the icon, …) finish, then watch.
	if err := chromedp.Do(b.Ctx, chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	b.MarkLoaded()
	for _, r := range b.Requests() {
		t.Logf("loading request: %s", r)
	}

	const sel = `[data-testid="total-requests"]`
	w := &Watch{Browser: b, Before: b.Text(t, sel)}
	// A reload would lose this mark.
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`window.__llmproxyWatch = true`)); err != nil {
		t.Fatal(err)
	}
	makeTraffic()
	b.WaitJS(t, "total-requests to change without a reload",
		`document.querySelector('`+sel+`').textContent.trim() !== `+jsString(w.Before), 3*time.Second)
	w.After = b.Text(t, sel)
	b.WaitJS(t, "the same document (no reload)", `window.__llmproxyWatch === true`, time.Second)
	// Give the other rows a moment to settle for the picture.
	if err := chromedp.Do(b.Ctx, chromedp.Sleep(400*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	w.Screenshot = b.Screenshot(t, t.TempDir(), "dashboard.png")

	// The language toggle changes the labels, and back.
	const label = `h2[data-i18n="total_requests"]`
	en := b.TextContent(t, label)
	if err := chromedp.Do(b.Ctx, chromedp.Click(chromedp.ID("lang-toggle"))); err != nil {
		t.Fatalf("clicking the language toggle: %v", err)
	}
	b.WaitJS(t, "the 中文 labels", `document.querySelector('`+label+`').textContent !== `+jsString(en)+
		` && document.documentElement.lang === "zh-CN"`, 3*time.Second)
	zh := b.TextContent(t, label)
	if zh == en || strings.EqualFold(zh, en) {
		t.Errorf("language toggle: label %q did not change", en)
	}
	if err := chromedp.Do(b.Ctx, chromedp.Click(chromedp.ID("lang-toggle"))); err != nil {
		t.Fatalf("clicking the language toggle: %v", err)
	}
	b.WaitJS(t, "the English labels again", `document.querySelector('`+label+`').textContent === `+jsString(en), 3*time.Second)

	if after := b.RequestsSinceLoad(); len(after) > 0 {
		t.Errorf("the dashboard made %d HTTP request(s) after it had loaded (it must only use the websocket):\n%s",
			len(after), strings.Join(after, "\n"))
	}
	return w
}
