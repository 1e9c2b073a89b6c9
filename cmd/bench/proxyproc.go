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
	cmd  *exec.Cmd
	pid  int
	addr string // 127.0.0.1:port
	dir  string // working directory: holds the default database, ./data/llm-proxy.db
	// log is the proxy's stdout and stderr (a file, as a PaaS collects
	// them; a pipe would put the bench's copying on the load's CPU).
	log    *os.File
	tail   string // what output returned when stop removed dir
	exited chan struct{}
}

// startProxy runs the proxy binary against upstreamURL and waits until it
// answers /healthz. extra holds more KEY=VALUE settings (they win).
//
// The proxy runs with its default settings, as users run it: SQLite in
// ./data of a fresh working directory (removed by stop) and one info log line
// per request.
func startProxy(bin, upstreamURL string, extra []string) (*proxyProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"PROXY_URL=" + upstreamURL,
		"API_KEY=" + apiKey,
		"MY_ACCESS_KEY=" + accessKey,
		"PORT=" + strconv.Itoa(port),
		"LISTEN_HOST=127.0.0.1",
		"SHUTDOWN_TIMEOUT=2s",
	}
	env = append(append(env, runtimeEnv()...), extra...)
	return spawn("proxy", bin, addr, env, func() (bool, string) {
		status, _, err := fasthttp.GetTimeout(nil, "http://"+addr+"/healthz", time.Second)
		return err == nil && status == fasthttp.StatusOK, fmt.Sprintf("GET /healthz: %d %v", status, err)
	})
}

// runtimeEnv is the Go runtime settings of the bench's own environment: they
// reach the relays it starts too, so `GOGC=200 make bench` tries a setting
// without editing code.
func runtimeEnv() []string {
	var env []string
	for _, k := range []string{"GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// spawn runs bin (named name in errors) with env in a fresh working
// directory (removed by stop), its output in name.log there, and waits up
// to 15 s until ready says so (ready also describes its last check).
func spawn(name, bin, addr string, env []string, ready func() (bool, string)) (*proxyProc, error) {
	dir, err := os.MkdirTemp("", "llm-proxy-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	p := &proxyProc{addr: addr, dir: dir, exited: make(chan struct{})}
	if p.log, err = os.Create(filepath.Join(dir, name+".log")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.cmd = exec.Command(bin)
	p.cmd.Env = env
	p.cmd.Dir = dir
	// If the bench dies without stopping it, the process goes too.
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
		ok, last := ready()
		if ok {
			return p, nil
		}
		if !p.alive() {
			out := p.output()
			p.stop()
			return nil, fmt.Errorf("%s exited at startup: %s", name, out)
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not get ready within 15s (last: %s): %s", name, last, p.output())
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

// stop sends SIGTERM, waits up to 5 s, then kills, and removes the working
// directory (output still answers afterwards).
func (p *proxyProc) stop() {
	if p.alive() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	if p.log != nil {
		p.tail = p.output()
		p.log.Close()
		p.log = nil
		os.RemoveAll(p.dir)
	}
}

// output is the end of what the proxy printed, without its info lines (one
// per request): warnings, errors and anything not from the logger.
func (p *proxyProc) output() string {
	if p.log == nil {
		return p.tail
	}
	const window = 256 << 10
	fi, err := p.log.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(fi.Size()-window, 0)
	b := make([]byte, fi.Size()-off)
	n, _ := p.log.ReadAt(b, off)
	lines := strings.Split(string(b[:n]), "\n")
	if off > 0 {
		lines = lines[1:] // the window starts inside a line
	}
	var keep []string
	for _, line := range lines {
		if line != "" && !strings.Contains(line, "level=INFO ") && !strings.Contains(line, `"level":"INFO"`) {
			keep = append(keep, line)
		}
	}
	out := strings.Join(keep, "\n")
	if len(out) > 8<<10 {
		out = out[len(out)-8<<10:]
	}
	return out
}
