// Command nreq sends exactly N chat completions (the shared rig's request,
// ../shared/bench/chat.lua) over C keep-alive connections and exits non-zero
// if any failed: the fixed load of docs/bench/callgrind.sh, which divides
// the instructions it counts by N.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// body is chat.lua's request body.
const body = `{"model":"gpt-4o-mini","stream":false,"max_tokens":64,"temperature":0.7,` +
	`"messages":[{"role":"system","content":"You are a helpful assistant."},` +
	`{"role":"user","content":"Write one short sentence about benchmarking HTTP proxies on a small machine."}]}`

func main() {
	url := flag.String("url", "http://127.0.0.1:28396/v1/chat/completions", "endpoint to POST to")
	key := flag.String("key", "client-key", "client key (Authorization: Bearer)")
	n := flag.Int("n", 1000, "requests in all")
	c := flag.Int("c", 8, "connections")
	flag.Parse()
	if *n < 1 || *c < 1 {
		fmt.Fprintln(os.Stderr, "nreq: -n and -c must be positive")
		os.Exit(2)
	}
	cl := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *c}}
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*n) {
				if err := one(cl, *url, *key); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		fmt.Fprintf(os.Stderr, "nreq: %d of %d requests failed; first: %v\n", f, *n, firstErr.Load())
		os.Exit(1)
	}
}

// one sends one request and reads its answer whole.
func one(cl *http.Client, url, key string) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
