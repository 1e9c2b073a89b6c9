package packaging

import (
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	stage int    // 0 before the first FROM, then 1, 2, …
	cmd   string // upper case: FROM, RUN, COPY, …
	args  string // the rest of the line, flags included
	line  int    // where it starts, for messages
}

// parseDockerfile splits a Dockerfile into instructions. It knows what this
// project's Dockerfile uses: comments (and parser directives, which look like
// comments), backslash continuations, comment lines inside a continuation.
func parseDockerfile(t *testing.T, text string) []instruction {
	t.Helper()
	var out []instruction
	stage := 0
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont)
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		full := strings.TrimSpace(cur.String())
		cur.Reset()
		if full == "" {
			continue
		}
		cmd, args, _ := strings.Cut(full, " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, instruction{stage: stage, cmd: cmd, args: strings.Join(strings.Fields(args), " "), line: start})
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile ends inside a continuation line")
	}
	return out
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatalf("%v", err)
	}
	return string(b)
}

func dockerfile(t *testing.T) []instruction {
	t.Helper()
	ins := parseDockerfile(t, readFile(t, "Dockerfile"))
	if len(ins) == 0 || ins[len(ins)-1].stage < 2 {
		t.Fatalf("Dockerfile: want a multi-stage build (a build stage, then the final stage)")
	}
	return ins
}

// stageOf returns the instructions of one stage, FROM first.
func stageOf(ins []instruction, stage int) []instruction {
	var out []instruction
	for _, in := range ins {
		if in.stage == stage {
			out = append(out, in)
		}
	}
	return out
}

func find(ins []instruction, cmd string) []instruction {
	var out []instruction
	for _, in := range ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// flagsAndRest splits leading --flags off an instruction's arguments.
func flagsAndRest(args string) (flags map[string]string, rest string) {
	flags = map[string]string{}
	rest = args
	for strings.HasPrefix(rest, "--") {
		f, r, _ := strings.Cut(rest, " ")
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		flags[k] = v
		rest = strings.TrimSpace(r)
	}
	return flags, rest
}

// execForm parses a JSON-array (exec form) argument; ok is false for the shell form.
func execForm(s string) (argv []string, ok bool) {
	if err := json.Unmarshal([]byte(s), &argv); err != nil {
		return nil, false
	}
	return argv, true
}

// envOf collects ENV key=value pairs of a stage.
func envOf(t *testing.T, ins []instruction) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, in := range find(ins, "ENV") {
		if !strings.Contains(strings.Fields(in.args)[0], "=") { // legacy "ENV KEY value"
			k, v, _ := strings.Cut(in.args, " ")
			env[k] = v
			continue
		}
		for _, kv := range strings.Fields(in.args) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("Dockerfile:%d: cannot read ENV %q (quoted values are not supported here)", in.line, in.args)
			}
			env[k] = strings.Trim(v, `"`)
		}
	}
	return env
}

func TestDockerfile_FinalStage(t *testing.T) {
	ins := dockerfile(t)
	final := stageOf(ins, ins[len(ins)-1].stage)

	_, base := flagsAndRest(final[0].args)
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final stage FROM %q: want distroless static or scratch", base)
	}
	if runs := find(final, "RUN"); len(runs) > 0 {
		t.Errorf("Dockerfile:%d: RUN in the final stage: the base has no shell", runs[0].line)
	}

	users := find(final, "USER")
	if len(users) == 0 {
		t.Fatalf("final stage: no USER (it would run as root)")
	}
	user := users[len(users)-1].args
	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "0" || uid == "root" {
		t.Errorf("final stage USER %q: want a non-root user", user)
	}
	if !regexp.MustCompile(`^[0-9]+(:[0-9]+)?$`).MatchString(user) {
		t.Errorf("final stage USER %q: want a numeric uid[:gid], so that runtimes can verify it is not root", user)
	}

	exposed := false
	for _, in := range find(final, "EXPOSE") {
		for _, p := range strings.Fields(in.args) {
			exposed = exposed || p == "8000" || p == "8000/tcp"
		}
	}
	if !exposed {
		t.Errorf("final stage: want EXPOSE 8000")
	}

	volume := false
	for _, in := range find(final, "VOLUME") {
		vols, ok := execForm(in.args)
		if !ok {
			vols = strings.Fields(in.args)
		}
		for _, v := range vols {
			volume = volume || strings.TrimSuffix(v, "/") == "/data"
		}
	}
	if !volume {
		t.Errorf("final stage: want VOLUME /data")
	}

	env := envOf(t, final)
	if got, want := env["DB_PATH"], "/data/llm-proxy.db"; got != want {
		t.Errorf("final stage ENV DB_PATH = %q, want %q (the database on the volume)", got, want)
	}
	if got, want := env["PORT"], "8000"; got != want {
		t.Errorf("final stage ENV PORT = %q, want %q (platforms override it; the proxy honours PORT)", got, want)
	}

	hcs := find(final, "HEALTHCHECK")
	if len(hcs) != 1 {
		t.Fatalf("final stage: want one HEALTHCHECK, got %d", len(hcs))
	}
	_, hc := flagsAndRest(hcs[0].args)
	cmd, ok := strings.CutPrefix(hc, "CMD ")
	argv, isExec := execForm(cmd)
	if !ok || !isExec || strings.Join(argv, " ") != "/llm-proxy -healthcheck" {
		t.Errorf(`HEALTHCHECK %q: want CMD ["/llm-proxy", "-healthcheck"] in exec form (there is no shell)`, hcs[0].args)
	}

	eps := find(final, "ENTRYPOINT")
	if len(eps) == 0 {
		t.Fatalf("final stage: no ENTRYPOINT")
	}
	if argv, ok := execForm(eps[len(eps)-1].args); !ok || len(argv) == 0 || argv[0] != "/llm-proxy" {
		t.Errorf(`ENTRYPOINT %q: want ["/llm-proxy"] in exec form, so that "docker run image -demo" passes flags`, eps[len(eps)-1].args)
	}

	var binCopied, dataOwned bool
	for _, in := range find(final, "COPY") {
		flags, rest := flagsAndRest(in.args)
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		switch dst := f[len(f)-1]; dst {
		case "/llm-proxy":
			binCopied = flags["from"] != ""
		case "/data", "/data/":
			dataOwned = flags["chown"] == user
			if !dataOwned {
				t.Errorf("Dockerfile:%d: /data is created with --chown=%q, want --chown=%s (the USER), or a fresh volume is not writable", in.line, flags["chown"], user)
			}
		}
	}
	if !binCopied {
		t.Errorf("final stage: want the binary copied from the build stage to /llm-proxy")
	}
	if !dataOwned {
		t.Errorf("final stage: want /data created owned by the USER (COPY --from=build --chown=%s … /data)", user)
	}
}

// dockerBuildCommand returns the Dockerfile's go build command (the RUN's
// command with its --mount flags removed) and the instructions of its stage.
func dockerBuildCommand(t *testing.T) (string, []instruction) {
	t.Helper()
	ins := dockerfile(t)
	var found []instruction
	for _, in := range find(ins, "RUN") {
		if strings.Contains(in.args, "go build") {
			found = append(found, in)
		}
	}
	if len(found) != 1 {
		t.Fatalf("Dockerfile: want exactly one RUN with go build, got %d", len(found))
	}
	_, cmd := flagsAndRest(found[0].args)
	return cmd, stageOf(ins, found[0].stage)
}

func TestDockerfile_BuildCommand(t *testing.T) {
	cmd, stage := dockerBuildCommand(t)
	for _, want := range []string{"CGO_ENABLED=0 ", " -trimpath ", `-ldflags "-s -w -X main.version=${VERSION}"`, " -o /out/llm-proxy "} {
		if !strings.Contains(cmd+" ", want) {
			t.Errorf("Dockerfile build command %q: want %q in it", cmd, want)
		}
	}
	if !strings.HasPrefix(cmd, "CGO_ENABLED=0 go build ") {
		t.Errorf("Dockerfile build command %q: want it to start with CGO_ENABLED=0 go build", cmd)
	}
	declared := false
	for _, in := range find(stage, "ARG") {
		name, _, _ := strings.Cut(in.args, "=")
		declared = declared || name == "VERSION"
	}
	if !declared {
		t.Errorf("Dockerfile: the build stage must declare ARG VERSION (an ARG before FROM is not visible in a stage)")
	}
}

// makefileBuildCommand returns the go build line of the Makefile's build recipe.
func makefileBuildCommand(t *testing.T) string {
	t.Helper()
	lines := strings.Split(readFile(t, "Makefile"), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "build:") {
			continue
		}
		for _, r := range lines[i+1:] {
			if !strings.HasPrefix(r, "\t") {
				break
			}
			if strings.Contains(r, "go build") {
				return strings.Join(strings.Fields(strings.TrimPrefix(strings.TrimSpace(r), "@")), " ")
			}
		}
	}
	t.Fatalf("Makefile: no go build line in the build recipe")
	return ""
}

func TestDockerfile_BuildCommandEqualsMakefile(t *testing.T) {
	docker, _ := dockerBuildCommand(t)

	t.Run("text", func(t *testing.T) {
		mk := makefileBuildCommand(t)
		// The same command, written in each file's variable syntax.
		mk = strings.ReplaceAll(mk, "$(VERSION)", "${VERSION}")
		mk = strings.ReplaceAll(mk, "-o $(BIN)", "-o /out/llm-proxy")
		if mk != docker {
			t.Errorf("the Makefile's build recipe and the Dockerfile's build command differ:\n  Makefile:   %s\n  Dockerfile: %s", mk, docker)
		}
	})

	t.Run("make -n", func(t *testing.T) {
		if _, err := exec.LookPath("make"); err != nil {
			t.Skip("make is not installed")
		}
		const version = "v0.0.0-packaging-test"
		c := exec.Command("make", "-n", "-s", "--no-print-directory", "build", "VERSION="+version, "BIN=/out/llm-proxy")
		c.Dir = ".."
		for _, kv := range os.Environ() { // a make running this test must not leak its flags
			if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" {
				c.Env = append(c.Env, kv)
			}
		}
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n build: %v\n%s", err, out)
		}
		var got []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "go build") {
				got = append(got, strings.Join(strings.Fields(l), " "))
			}
		}
		want := strings.ReplaceAll(docker, "${VERSION}", version)
		if len(got) != 1 || got[0] != want {
			t.Errorf("make -n build runs\n  %q\nwant the Dockerfile's command\n  %q", got, want)
		}
	})
}

// dockerignored reports whether .dockerignore's patterns leave p (a slash
// path relative to the context) out. It covers the forms the file uses: plain
// patterns matched against p and each of its parent directories, and "**/"
// patterns matched against every tail of p. Exceptions ("!") are not used.
func dockerignored(patterns []string, p string) bool {
	parts := strings.Split(p, "/")
	for _, pat := range patterns {
		if tail, ok := strings.CutPrefix(pat, "**/"); ok {
			for i := range parts {
				if m, _ := path.Match(tail, strings.Join(parts[i:], "/")); m {
					return true
				}
			}
			continue
		}
		for i := 1; i <= len(parts); i++ {
			if m, _ := path.Match(strings.TrimSuffix(pat, "/"), strings.Join(parts[:i], "/")); m {
				return true
			}
		}
	}
	return false
}

func TestDockerignore(t *testing.T) {
	var patterns []string
	for _, l := range strings.Split(readFile(t, ".dockerignore"), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") {
			t.Fatalf(".dockerignore: exceptions (%q) are not understood by this test; extend dockerignored", l)
		}
		patterns = append(patterns, strings.TrimPrefix(l, "/"))
	}
	for _, p := range []string{".git/config", "data/llm-proxy.db", "stats/x.db", ".env", "llm-proxy", "upstream/sse_test.go", "README.md"} {
		if !dockerignored(patterns, p) {
			t.Errorf(".dockerignore: %s should be left out of the build context", p)
		}
	}
	// Everything go build needs must stay in.
	err := filepath.WalkDir("..", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, ".."+string(filepath.Separator)))
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		needed := rel == "go.mod" || rel == "go.sum" || strings.HasPrefix(rel, "static/") ||
			(strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") && !strings.HasPrefix(rel, "packaging/"))
		if needed && dockerignored(patterns, rel) {
			t.Errorf(".dockerignore leaves out %s, which go build needs", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeployFiles checks that each platform file keeps the data on a volume
// at /data and talks to the proxy on its port.
func TestDeployFiles(t *testing.T) {
	checks := []struct {
		file string
		want []string // regular expressions
	}{
		{"docker-compose.yml", []string{`(?m)^\s+- [\w-]+:/data\s*$`, `(?m)^volumes:`, `8000`}},
		{"fly.toml", []string{`(?m)^\s*destination\s*=\s*"/data"`, `(?m)^\s*internal_port\s*=\s*8000\b`, `(?m)^\s*DB_PATH\s*=\s*"/data/llm-proxy.db"`, `(?m)^\s*path\s*=\s*"/healthz"`}},
		{"render.yaml", []string{`(?m)^\s*mountPath:\s*/data\s*$`, `(?m)^\s*runtime:\s*docker\s*$`, `(?m)^\s*healthCheckPath:\s*/healthz\s*$`, `/data/llm-proxy.db`}},
	}
	for _, c := range checks {
		text := readFile(t, c.file)
		for _, re := range c.want {
			if !regexp.MustCompile(re).MatchString(text) {
				t.Errorf("%s: nothing matches %s", c.file, re)
			}
		}
	}
}
