// Command llm-proxy is a small, fast relay for OpenAI- and Anthropic-style
// LLM APIs with retry across upstream targets, unbuffered streaming and a
// live dashboard. Configuration is by environment; run `llm-proxy -h`.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/llm-proxy/llm-proxy/app"
	"github.com/llm-proxy/llm-proxy/logging"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("llm-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	demo := fs.Bool("demo", false, "run with a simulated upstream and demo traffic (no real key needed)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	healthcheck := fs.Bool("healthcheck", false, "check that a proxy on PORT answers /healthz (for Docker HEALTHCHECK) and exit")
	configFile := fs.String("config", "", "routing file (YAML); the same as CONFIG_FILE")
	checkConfig := fs.String("check-config", "", "validate the routing file `FILE`, print its resolved targets and models (keys masked) and exit")
	fs.Usage = func() { usage(stderr, fs) }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "llm-proxy %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}

	cfg, err := app.Load(os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "llm-proxy: config: %v\n", err)
		return 1
	}
	if *healthcheck {
		return checkHealth(cfg.ListenHost, cfg.Port, stderr)
	}
	if *configFile != "" {
		cfg.ConfigFile = *configFile
	}
	if *checkConfig != "" {
		return checkRoutingFile(cfg, *checkConfig, stdout, stderr)
	}
	if *demo {
		app.PrepareDemo(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "llm-proxy: config: %v\n", err)
		return 1
	}
	logw := logging.NewWriter(stderr)
	defer logw.Close() // every queued line out before the process exits
	log := newLogger(cfg, logw)

	a, err := app.New(cfg, log, version)
	if err != nil {
		logw.Flush() // its lines before this one
		fmt.Fprintf(stderr, "llm-proxy: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", a.Addr())
	if err != nil {
		a.Close()
		logw.Flush()
		fmt.Fprintf(stderr, "llm-proxy: listen on %s: %v\n", a.Addr(), err)
		return 1
	}
	ctx, stop := signalContext()
	defer stop()

	a.LogStartup(ln.Addr().String())
	if cfg.Demo {
		base := "http://" + hostForURL(ln.Addr())
		fmt.Fprint(stdout, a.DemoBanner(base))
		go a.RunDemoTraffic(ctx, base)
	}
	if err := a.Serve(ctx, ln); err != nil {
		log.Error("server stopped", "error", err.Error())
		return 1
	}
	log.Info("stopped")
	return 0
}

// signalContext is cancelled by the first SIGTERM or SIGINT; a second one
// exits at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "llm-proxy: second signal, exiting now")
		os.Exit(1)
	}()
	return ctx, func() { signal.Stop(sigs); cancel() }
}

// checkRoutingFile validates a routing file as the proxy would load it and
// prints the resolved targets and models, keys masked.
func checkRoutingFile(cfg app.Config, path string, stdout, stderr io.Writer) int {
	cfg.ConfigFile = path
	r, err := cfg.BuildRouting(nil)
	if err == nil {
		err = cfg.CheckRoutingExclusion()
	}
	if err != nil {
		fmt.Fprintf(stderr, "llm-proxy: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK\n", path)
	if err := r.Describe(stdout); err != nil {
		return 1
	}
	return 0
}

// newLogger writes text or JSON lines (LOG_FORMAT) at LOG_LEVEL through w,
// which batches them off the request path.
func newLogger(cfg app.Config, w *logging.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(logging.NewHandler(w, cfg.LogFormat == "json", &slog.HandlerOptions{Level: level}))
}

func hostForURL(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return addr.String()
}

// checkHealth asks the local proxy for /healthz; exit 0 when it answers 200.
// It dials LISTEN_HOST when that names one address, else loopback.
func checkHealth(host string, port int, stderr io.Writer) int {
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/healthz")
	if err != nil {
		fmt.Fprintf(stderr, "unhealthy: %v\n", err)
		return 1
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "unhealthy: status %d\n", resp.StatusCode)
		return 1
	}
	return 0
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "llm-proxy %s — an OpenAI/Anthropic API relay with retry, streaming and a live dashboard\n\n", version)
	fmt.Fprintf(w, "Usage: llm-proxy [-demo] [-version] [-healthcheck]\n\nFlags:\n")
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nEnvironment (name, default, meaning):\n")
	for _, s := range app.Settings() {
		def := s.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(w, "  %-26s %-22s %s\n", s.Name, def, strings.TrimSpace(s.Help))
	}
}
