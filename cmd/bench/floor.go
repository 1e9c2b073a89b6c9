package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// The floor (../shared/bench/floor) is the smallest useful relay on
// fasthttp: it checks "Bearer client-key" and sends "Bearer upstream-key".
// The bench builds it from its source in the same run and measures it under
// the same load as the proxy; the proxy's CPU per request divided by the
// floor's is the figure the performance issue is judged by.
const (
	floorClientKey   = "client-key"
	floorUpstreamKey = "upstream-key"
)

// findFloor returns dir when set, else looks for shared/bench/floor in the
// module root or one of its parents ("" when there is none).
func findFloor(dir string) (string, error) {
	if dir == "off" {
		return "", nil
	}
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
			return "", fmt.Errorf("-floor: %w", err)
		}
		return dir, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", nil // e.g. run with -proxy-bin from elsewhere: no floor
	}
	for d := root; ; d = filepath.Dir(d) {
		cand := filepath.Join(d, "shared", "bench", "floor")
		if _, err := os.Stat(filepath.Join(cand, "main.go")); err == nil {
			return cand, nil
		}
		if filepath.Dir(d) == d {
			return "", nil
		}
	}
}

// buildFloor compiles the floor from src into dir and returns the binary.
func buildFloor(src, dir string) (string, error) {
	bin := filepath.Join(dir, "floor")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", src, err, out)
	}
	return bin, nil
}

// startFloor runs the floor in front of the upstream at upAddr (host:port)
// and waits until it answers.
func startFloor(bin, upAddr string) (*proxyProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	env := append([]string{"ADDR=" + addr, "UP=" + upAddr}, runtimeEnv()...)
	return spawn("floor", bin, addr, env, func() (bool, string) {
		// Any answer will do: the floor has no health route (401 without the key).
		_, _, err := fasthttp.GetTimeout(nil, "http://"+addr+"/", time.Second)
		return err == nil, fmt.Sprint(err)
	})
}
