// Command bench measures llm-proxy under load: it starts the simulated
// upstream (in this process), the proxy (built from this module and run as
// a child process with its default settings — SQLite and info logs — so its
// CPU time and memory can be read from /proc) and a
// load generator, then prints a markdown table and writes it as JSON.
//
// Scenarios (-only picks some):
//
//	nonstream  chat completions at -conns connections, straight to the
//	           upstream, through the proxy and through the floor relay
//	           (../shared/bench/floor, built in the same run): rps, latency,
//	           errors, the proxy's CPU per request and its ratio to the
//	           floor's, its peak RSS, upstream connections
//	stream     -streams concurrent streams of 20 events 20 ms apart: TTFB
//	           and gap between events, added by the proxy; RSS per stream
//	viewers    the non-stream load at the first -conns value, without and
//	           with -viewers dashboard websocket viewers connected
//
// With -profile it instead profiles the proxy under the non-stream load and
// saves cpu.prof and allocs.prof (see profile.go).
//
// Linux only (/proc). Usage: go run ./cmd/bench [flags]; `make bench`.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

type options struct {
	duration     time.Duration
	warmup       time.Duration
	conns        []int
	streams      []int
	viewers      int
	chunks       int
	chunkGap     time.Duration
	ramp         time.Duration
	jsonPath     string
	only         map[string]bool
	proxyBin     string
	proxyEnv     []string
	profile      bool
	profileSecs  int
	profileDir   string
	profileConns int
	// profileStreams > 0 profiles that many concurrent streams instead.
	profileStreams int
	// compareBin, when set, runs an A/B comparison with this binary as B.
	compareBin string
	rounds     int
	// selfProfile is where to write a CPU profile of the bench process itself.
	selfProfile string
	// floorDir is the floor relay's source ("": find shared/bench/floor; "off": none).
	floorDir string
}

var scenarios = []string{"nonstream", "stream", "viewers"}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "measured time of each load phase")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each non-stream phase")
	conns := fs.String("conns", "64,256", "non-stream concurrent connections, comma-separated")
	streams := fs.String("streams", "500,5000", "concurrent streams, comma-separated")
	fs.IntVar(&o.viewers, "viewers", 20, "dashboard websocket viewers in the viewers scenario")
	fs.IntVar(&o.chunks, "chunks", 20, "content chunks per simulated stream")
	fs.DurationVar(&o.chunkGap, "chunk-interval", 20*time.Millisecond, "gap between the events of a simulated stream")
	fs.DurationVar(&o.ramp, "ramp", time.Second, "streams start spread over this long (unmeasured)")
	fs.StringVar(&o.jsonPath, "json", "bench-results/bench.json", "write the results here as JSON (empty: don't)")
	only := fs.String("only", "", "run only these scenarios, comma-separated: "+strings.Join(scenarios, ", "))
	fs.StringVar(&o.proxyBin, "proxy-bin", "", "use this proxy binary instead of building one (go build -o <tmp>/llm-proxy .)")
	proxyEnv := fs.String("proxy-env", "", "extra KEY=VALUE settings for the proxy, comma-separated (e.g. GOGC=200)")
	fs.BoolVar(&o.profile, "profile", false, "profile mode: run the non-stream load and save the proxy's cpu.prof and allocs.prof")
	fs.IntVar(&o.profileSecs, "profile-seconds", 10, "profile mode: seconds of load and of CPU profile")
	fs.StringVar(&o.profileDir, "profile-dir", "bench-results", "profile mode: where cpu.prof and allocs.prof go")
	fs.IntVar(&o.profileConns, "profile-conns", 64, "profile mode: concurrent connections")
	fs.IntVar(&o.profileStreams, "profile-streams", 0, "profile mode: profile this many concurrent streams instead of the non-stream load (adds heap.prof)")
	fs.StringVar(&o.compareBin, "compare", "", "A/B mode: compare the proxy (A, built or -proxy-bin) with this binary (B) under the non-stream load at the first -conns value, in alternating slices of -duration")
	fs.IntVar(&o.rounds, "rounds", 8, "A/B mode: rounds (each runs A and B once)")
	fs.StringVar(&o.floorDir, "floor", "", "source of the floor relay measured beside the proxy in the nonstream scenario (default: shared/bench/floor above the module; off: none)")
	fs.StringVar(&o.selfProfile, "self-cpuprofile", "", "write a CPU profile of the bench process itself (load generator and upstream) here")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if o.conns, err = intList(*conns); err != nil {
		return o, fmt.Errorf("-conns: %w", err)
	}
	if o.streams, err = intList(*streams); err != nil {
		return o, fmt.Errorf("-streams: %w", err)
	}
	o.only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(scenarios, s) {
			return o, fmt.Errorf("-only: unknown scenario %q (have %s)", s, strings.Join(scenarios, ", "))
		}
		o.only[s] = true
	}
	if len(o.only) == 0 {
		for _, s := range scenarios {
			o.only[s] = true
		}
	}
	for _, kv := range strings.Split(*proxyEnv, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			if !strings.Contains(kv, "=") {
				return o, fmt.Errorf("-proxy-env: %q is not KEY=VALUE", kv)
			}
			o.proxyEnv = append(o.proxyEnv, kv)
		}
	}
	if o.duration <= 0 || o.warmup < 0 || o.ramp < 0 || o.viewers < 0 || o.chunks <= 0 || o.rounds <= 0 || o.profileSecs <= 0 {
		return o, fmt.Errorf("-duration must be positive; -warmup, -ramp, -viewers not negative; -chunks, -rounds, -profile-seconds positive")
	}
	if len(o.conns) == 0 {
		return o, fmt.Errorf("-conns: give at least one value")
	}
	return o, nil
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("not a positive number: %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err == flag.ErrHelp {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit: 5,000
// streams take 10,000 descriptors here (client ends plus the upstream's
// ends) and as many in the proxy, which inherits the limit. Setting it
// explicitly also makes os/exec pass it on to the child unchanged.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

func run(o options, stdout, stderr io.Writer) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("needs Linux (/proc), not %s", runtime.GOOS)
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "bench: "+format+"\n", args...)
	}
	nofile, err := raiseFileLimit()
	if err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	if need := 2*slices.Max(append([]int{0}, o.streams...)) + 256; o.only["stream"] && uint64(need) > nofile {
		logf("warning: RLIMIT_NOFILE hard limit %d is below the %d descriptors %d streams need", nofile, need, slices.Max(o.streams))
	}

	if o.selfProfile != "" {
		f, err := os.Create(o.selfProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	bin := o.proxyBin
	if bin == "" {
		tmp, err := os.MkdirTemp("", "llm-proxy-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		logf("building the proxy (go build -o %s/llm-proxy .)", tmp)
		if bin, err = buildProxy(tmp); err != nil {
			return err
		}
	}
	if o.profile {
		return runProfile(o, bin, stdout, logf)
	}
	if o.compareBin != "" {
		r, err := compare(o, bin, o.compareBin, logf)
		if err != nil {
			return err
		}
		printCompare(stdout, r)
		return nil
	}

	res := &Results{
		Started:   time.Now().UTC(),
		GoVersion: runtime.Version(),
		NumCPU:    runtime.NumCPU(),
		NoFile:    nofile,
		LoadStart: loadAvg(),
		Settings: Settings{
			Duration: o.duration.String(), Warmup: o.warmup.String(), Ramp: o.ramp.String(),
			Conns: o.conns, Streams: o.streams, Viewers: o.viewers,
			StreamChunks: o.chunks, ChunkInterval: o.chunkGap.String(), ProxyEnv: o.proxyEnv,
		},
	}
	b := &bench{o: o, bin: bin, logf: logf, res: res}
	if o.only["nonstream"] {
		src, err := findFloor(o.floorDir)
		if err != nil {
			return err
		}
		if src == "" {
			logf("no floor relay found (shared/bench/floor): the nonstream scenario runs without it")
		} else {
			tmp, err := os.MkdirTemp("", "llm-proxy-bench-floor-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			logf("building the floor relay (go build -o %s/floor in %s)", tmp, src)
			if b.floorBin, err = buildFloor(src, tmp); err != nil {
				return err
			}
		}
	}
	began := time.Now()
	if o.only["nonstream"] || o.only["viewers"] {
		// floorUpstreamKey: the floor sends its own fixed key.
		up, err := sim.New(sim.Options{ChunkInterval: -1, Latency: 0, Keys: []string{apiKey, floorUpstreamKey}})
		if err != nil {
			return err
		}
		defer up.Close()
		if o.only["nonstream"] {
			for _, c := range o.conns {
				b.nonStream(up, c)
			}
		}
		if o.only["viewers"] && len(o.conns) > 0 {
			b.viewers(up, o.conns[0])
		}
	}
	if o.only["stream"] {
		up, err := sim.New(sim.Options{
			ChunkInterval: o.chunkGap, StreamChunks: o.chunks, Keys: []string{apiKey}})
		if err != nil {
			return err
		}
		for _, n := range o.streams {
			b.streams(up, n)
		}
		up.Close()
	}
	res.LoadEnd = loadAvg()
	res.Seconds = time.Since(began).Seconds()
	res.Targets = checkTargets(res)

	printReport(stdout, res)
	if o.jsonPath != "" {
		if err := writeJSON(o.jsonPath, res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nJSON: %s\n", o.jsonPath)
	}
	if len(res.Problems) > 0 {
		return fmt.Errorf("%d problem(s), see the report", len(res.Problems))
	}
	return nil
}

func writeJSON(path string, v any) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
