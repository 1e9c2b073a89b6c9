package app

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/llm-proxy/llm-proxy/routing"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// demoRoutingName names the built-in routing of demo mode where a file's path would be.
const demoRoutingName = "(built-in demo routing)"

// demoAnthropicKey is the key of the simulated Anthropic-shaped provider.
const demoAnthropicKey = "sk-demo-anthropic"

// Demo mode's story, in time since start: one OpenAI key is revoked, then
// works again (the background check finds it).
const (
	demoRevokeAfter  = time.Minute
	demoRestoreAfter = 3 * time.Minute
)

// demoRoutingFile is demo mode's routing file: two simulated providers,
// an alias and two fallbacks. {OPENAI} and {ANTHROPIC} are their URLs.
const demoRoutingFile = `targets:
  - name: openai-sim
    url: {OPENAI}
    keys: [sk-demo-upstream-a, sk-demo-upstream-b]
    api: openai
    models: ["gpt-*", "o*"]
  - name: anthropic-sim
    url: {ANTHROPIC}
    keys: [sk-demo-anthropic]
    api: anthropic
    models: ["claude-*"]
models:
  fast: {to: gpt-4o-mini}
  gpt-4o:
    fallback: [gpt-4o-mini]
  claude-opus-4-1:
    fallback: [claude-sonnet-4-5]
`

// demoModelFaults makes the simulated providers fail some models often, so
// that demo traffic shows fallbacks: gpt-4o is overloaded and
// claude-opus-4-1 rate limited most of the time.
func demoModelFaults(r sim.Received) *sim.Step {
	switch model := demoBodyModel(r.Body); {
	case model == "gpt-4o" && rand.Float64() < 0.6:
		return &sim.Step{Status: 503, Body: sim.OpenAIError("server_error", "The server is overloaded")}
	case model == "claude-opus-4-1" && rand.Float64() < 0.6:
		return &sim.Step{Status: 429, Body: sim.AnthropicError("rate_limit_error", "Number of requests has exceeded your rate limit")}
	}
	return nil
}

func demoBodyModel(body []byte) string {
	_, rest, ok := strings.Cut(string(body), `"model":"`)
	if !ok {
		return ""
	}
	model, _, _ := strings.Cut(rest, `"`)
	return model
}

// demoRouting starts the Anthropic-shaped simulated provider and builds
// the built-in routing over both; it schedules the key revocation.
func (a *App) demoRouting() (*routing.Routing, error) {
	srv, err := sim.New(sim.Options{
		RateLimitShare: a.cfg.DemoRateLimitShare,
		StreamChunks:   24,
		ChunkInterval:  60 * time.Millisecond,
		Latency:        250 * time.Millisecond,
		Keys:           []string{demoAnthropicKey},
		Hook:           demoModelFaults,
	})
	if err != nil {
		return nil, err
	}
	a.demoAnthropic = srv
	yaml := strings.NewReplacer("{OPENAI}", a.demo.URL(), "{ANTHROPIC}", srv.URL()).Replace(demoRoutingFile)
	f, err := routing.Parse(demoRoutingName, []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	r, err := routing.Build(f, routing.Options{
		MaxCooldown:         a.cfg.MaxCooldown,
		QuotaRetryInterval:  a.cfg.QuotaRetryInterval,
		HealthCheckInterval: a.cfg.HealthCheckInterval,
	}, nil)
	if err != nil {
		return nil, err
	}
	openai := a.demo
	a.demoTimers = append(a.demoTimers,
		time.AfterFunc(demoRevokeAfter, func() { openai.SetKeyState(demoUpstreamKeys[1], sim.KeyRevoked) }),
		time.AfterFunc(demoRestoreAfter, func() { openai.SetKeyState(demoUpstreamKeys[1], sim.KeyOK) }))
	return r, nil
}
