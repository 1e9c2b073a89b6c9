package sim_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// A scripted rate limit, then a success: what a retrying client sees.
func ExampleNew() {
	srv, err := sim.New(sim.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	srv.Push(
		sim.Step{
			Status: http.StatusTooManyRequests,
			Header: map[string]string{"Retry-After": "1"},
			Body:   sim.OpenAIError("rate_limit_error", "Rate limit reached"),
		},
		sim.Step{Body: `{"ok":true}`},
	)

	client := &http.Client{}
	for range 2 {
		resp, err := client.Post(srv.URL()+"/chat/completions", "application/json",
			strings.NewReader(`{"model":"gpt-4o-mini","messages":[]}`))
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d retry-after=%q %s\n", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	client.CloseIdleConnections()
	fmt.Println("requests:", srv.Count())

	// Output:
	// 429 retry-after="1" {"error":{"message":"Rate limit reached","type":"rate_limit_error","param":null,"code":null}}
	// 200 retry-after="" {"ok":true}
	// requests: 2
}
