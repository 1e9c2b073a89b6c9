package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
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
	dir, err := os.MkdirTemp("", "llm-proxy-bench-floor-")
	if err != nil {
		return nil, err
	}
	p := &proxyProc{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, exited: make(chan struct{})}
	if p.log, err = os.Create(filepath.Join(dir, "floor.log")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.cmd = exec.Command(bin)
	p.cmd.Env = []string{"ADDR=" + p.addr, "UP=" + upAddr}
	for _, k := range []string{"GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG"} {
		if v, ok := os.LookupEnv(k); ok {
			p.cmd.Env = append(p.cmd.Env, k+"="+v)
		}
	}
	p.cmd.Dir = dir
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.log.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	p.pid = p.cmd.Process.Pid
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		// Any answer will do: the floor has no health route (401 without the key).
		if _, _, err := fasthttp.GetTimeout(nil, "http://"+p.addr+"/", time.Second); err == nil {
			return p, nil
		} else if !p.alive() || time.Now().After(deadline) {
			out := p.output()
			p.stop()
			return nil, errors.Join(fmt.Errorf("floor did not start: %s", out), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
