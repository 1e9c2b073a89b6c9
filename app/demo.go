package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// DemoAccessKey is the client key demo mode uses when MY_ACCESS_KEY is unset.
const DemoAccessKey = "demo-key"

// demoUpstreamKeys are the simulated upstream's two keys: two targets, so the
// dashboard shows retries moving from one to the other.
var demoUpstreamKeys = []string{"sk-demo-upstream-a", "sk-demo-upstream-b"}

// PrepareDemo fills in what demo mode needs: a client key when none is set.
// Call it before Validate.
func PrepareDemo(cfg *Config) {
	cfg.Demo = true
	if len(cfg.AccessKeys) == 0 {
		cfg.AccessKeys = []string{DemoAccessKey}
	}
	if cfg.HealthCheckInterval == DefaultConfig().HealthCheckInterval {
		// The demo revokes a key and restores it two minutes later: check
		// often enough that the page shows it coming back.
		cfg.HealthCheckInterval = 20 * time.Second
	}
}

// startDemoUpstream starts the simulated OpenAI + Anthropic upstream on
// 127.0.0.1 and points two targets at it.
func (a *App) startDemoUpstream() error {
	srv, err := sim.New(sim.Options{
		RateLimitShare: a.cfg.DemoRateLimitShare,
		StreamChunks:   24,
		ChunkInterval:  60 * time.Millisecond,
		Latency:        250 * time.Millisecond,
		Keys:           demoUpstreamKeys,
		Hook:           demoModelFaults,
	})
	if err != nil {
		return fmt.Errorf("demo upstream: %w", err)
	}
	a.demo = srv
	a.cfg.ProxyURLs = []string{srv.URL()}
	a.cfg.APIKeys = demoUpstreamKeys
	a.cfg.TargetNames = []string{"demo-upstream-a", "demo-upstream-b"}
	return nil
}

// DemoBanner is what demo mode prints at start.
func (a *App) DemoBanner(baseURL string) string {
	key := a.cfg.AccessKeys[0]
	var b strings.Builder
	line := strings.Repeat("=", 72)
	fmt.Fprintf(&b, "%s\n", line)
	fmt.Fprintf(&b, "  llm-proxy DEMO MODE — a simulated upstream, no real key, no real model\n")
	fmt.Fprintf(&b, "  演示模式 — 模拟上游，无需真实密钥\n%s\n", line)
	fmt.Fprintf(&b, "  Dashboard / 仪表盘:   %s/   (log in with the access key below)\n", baseURL)
	fmt.Fprintf(&b, "  Access key / 访问密钥: %s\n", key)
	fmt.Fprintf(&b, "  Simulated rate-limit share: %.0f%% (DEMO_RATE_LIMIT_SHARE) — watch retries recover them\n", a.cfg.DemoRateLimitShare*100)
	if a.relay.Routing() != nil && a.cfg.ConfigFile == "" {
		fmt.Fprintf(&b, "  Routing: two simulated providers (openai-sim with 2 keys, anthropic-sim); the alias \"fast\" is gpt-4o-mini;\n")
		fmt.Fprintf(&b, "  gpt-4o falls back to gpt-4o-mini, claude-opus-4-1 to claude-sonnet-4-5. Key openai-sim#2 is revoked\n")
		fmt.Fprintf(&b, "  after %v and works again after %v: watch it go disabled and come back.\n", demoRevokeAfter, demoRestoreAfter)
		fmt.Fprintf(&b, "  路由：两个模拟服务商；fast 是 gpt-4o-mini 的别名；gpt-4o 回退到 gpt-4o-mini；openai-sim#2 一分钟后被吊销，三分钟后恢复。\n")
	}
	fmt.Fprintf(&b, "\n")
	fmt.Fprintf(&b, "  Try (streams token by token):\n")
	fmt.Fprintf(&b, "  curl -N %s/v1/chat/completions -H 'Authorization: Bearer %s' \\\n", baseURL, key)
	fmt.Fprintf(&b, "    -H 'Content-Type: application/json' \\\n")
	fmt.Fprintf(&b, "    -d '{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'\n\n")
	fmt.Fprintf(&b, "  curl -N %s/v1/messages -H 'x-api-key: %s' -H 'anthropic-version: 2023-06-01' \\\n", baseURL, key)
	fmt.Fprintf(&b, "    -H 'Content-Type: application/json' \\\n")
	fmt.Fprintf(&b, "    -d '{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":256,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'\n")
	fmt.Fprintf(&b, "%s\n", line)
	return b.String()
}

// RunDemoTraffic sends a gentle mix of requests through the proxy at baseURL
// until ctx is done, so the dashboard has something to show.
func (a *App) RunDemoTraffic(ctx context.Context, baseURL string) {
	key := a.cfg.AccessKeys[0]
	client := &http.Client{Timeout: 30 * time.Second}
	kinds := []struct {
		path, header, body string
	}{
		{"/v1/chat/completions", "Authorization", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello"}]}`},
		{"/v1/chat/completions", "Authorization", `{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello"}]}`},
		{"/v1/messages", "x-api-key", `{"model":"claude-sonnet-4-5","max_tokens":128,"stream":true,"messages":[{"role":"user","content":"Say hello"}]}`},
		{"/v1/messages", "x-api-key", `{"model":"claude-haiku-4-5","max_tokens":128,"messages":[{"role":"user","content":"Say hello"}]}`},
		{"/v1/responses", "Authorization", `{"model":"gpt-4.1-mini","input":"Say hello"}`},
		{"/v1/chat/completions", "Authorization", `{"model":"fast","stream":true,"messages":[{"role":"user","content":"Say hello"}]}`},
		{"/v1/messages", "x-api-key", `{"model":"claude-opus-4-1","max_tokens":128,"messages":[{"role":"user","content":"Say hello"}]}`},
		// Translated: each model is served only in the other API (TRANSLATION.md).
		{"/v1/chat/completions", "Authorization", `{"model":"claude-sonnet-4-5","stream":true,"messages":[{"role":"user","content":"Say hello"}]}`},
		{"/v1/messages", "x-api-key", `{"model":"gpt-4o-mini","max_tokens":128,"messages":[{"role":"user","content":"Say hello"}]}`},
	}
	for {
		wait := time.Duration(400+rand.IntN(1200)) * time.Millisecond
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		k := kinds[rand.IntN(len(kinds))]
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+k.path, bytes.NewReader([]byte(k.body)))
		if err != nil {
			continue
		}
		req.Header.Set("Content-Type", "application/json")
		if k.header == "Authorization" {
			req.Header.Set("Authorization", "Bearer "+key)
		} else {
			req.Header.Set("x-api-key", key)
			req.Header.Set("anthropic-version", "2023-06-01")
		}
		go func() {
			resp, err := client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		}()
	}
}
