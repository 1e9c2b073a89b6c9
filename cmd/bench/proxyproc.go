package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Keys the bench configures: clients present accessKey to the proxy (it is
// also the dashboard key), the proxy presents apiKey to the upstream.
const (
	accessKey = "bench-access-key"
	apiKey    = "bench-upstream-key"
)

// moduleRoot finds the directory of the llm-proxy go.mod, from the working
// directory upwards.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/llm-proxy/llm-proxy\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the llm-proxy module (no go.mod naming github.com/llm-proxy/llm-proxy)")
		}
		dir = parent
	}
}

// buildProxy compiles the proxy into dir and returns the binary's path.
func buildProxy(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "llm-proxy")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// proxyProc is a running proxy child process.
type proxyProc struct {
	cmd    *exec.Cmd
	pid    int
	addr   string // 127.0.0.1:port
	stderr *tailBuffer
	exited chan struct{}
}

// startProxy runs the proxy binary against upstreamURL and waits until it
// answers /healthz. extra holds more KEY=VALUE settings (they win).
func startProxy(bin, upstreamURL string, extra []string) (*proxyProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"PROXY_URL=" + upstreamURL,
		"API_KEY=" + apiKey,
		"MY_ACCESS_KEY=" + accessKey,
		"PORT=" + strconv.Itoa(port),
		"LISTEN_HOST=127.0.0.1",
		"DB_PATH=memory",
		"LOG_LEVEL=error",
		"SHUTDOWN_TIMEOUT=2s",
	}
	// Go runtime settings of the bench's own environment reach the proxy
	// too, so `GOGC=200 make bench` tries a setting without editing code.
	for _, k := range []string{"GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, extra...)
	p := &proxyProc{
		addr:   "127.0.0.1:" + strconv.Itoa(port),
		stderr: &tailBuffer{max: 8 << 10},
		exited: make(chan struct{}),
	}
	p.cmd = exec.Command(bin)
	p.cmd.Env = env
	// If the bench dies without stopping it, the proxy goes too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	p.pid = p.cmd.Process.Pid
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, _, err := fasthttp.GetTimeout(nil, "http://"+p.addr+"/healthz", time.Second)
		if err == nil && status == fasthttp.StatusOK {
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("proxy exited at startup: %s", p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("proxy did not answer /healthz within 15s (last: %d %v): %s", status, err, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether the process is still running.
func (p *proxyProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, waits up to 5 s, then kills.
func (p *proxyProc) stop() {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
