package routing

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// API is the API shape (or shapes) a target speaks.
type API uint8

// The target APIs.
const (
	APIOpenAI    API = iota // OpenAI's API only
	APIAnthropic            // Anthropic's API only
	APIAny                  // a relay that serves both
)

var apiNames = [...]string{"openai", "anthropic", "any"}

// String returns the API's name as written in the file.
func (a API) String() string { return apiNames[a] }

// Serves reports whether a target of this API takes requests of family f.
func (a API) Serves(f Family) bool { return a == APIAny || API(f) == a }

// Family is the API family of an inbound request, from its path.
type Family uint8

// The request families (values match the APIs of the same name).
const (
	FamilyOpenAI    Family = Family(APIOpenAI)
	FamilyAnthropic Family = Family(APIAnthropic)
	numFamilies            = 2
)

// String returns "openai" or "anthropic".
func (f Family) String() string { return apiNames[f] }

// Auth is how the proxy presents a target's key upstream.
type Auth uint8

// The auth styles.
const (
	// AuthClient (the default) sends the key in the client's style for relayed
	// requests, and in the target API's own style for the proxy's own calls.
	AuthClient  Auth = iota
	AuthBearer       // always Authorization: Bearer <key>
	AuthXAPIKey      // always x-api-key: <key>
)

var authNames = [...]string{"", "bearer", "x-api-key"}

// String returns the auth style as written in the file ("" for the default).
func (a Auth) String() string { return authNames[a] }

// TargetSpec is one target of the routing file, one per key: a file target
// with keys [a, b] named "x" gives the specs "x#1" and "x#2".
type TargetSpec struct {
	// Name is the target's display name: the file's name, or name#n when it has several keys.
	Name string
	// Group is the file's name (shared by the targets of one entry).
	Group string
	URL   *url.URL
	Key   string
	API   API
	// Models are the glob patterns the target serves; ["*"] by default.
	Models []Glob
	// Weight is the target's share of traffic within its priority; at least 1 (default 1).
	Weight int
	// Priority: lower is preferred; 0 by default.
	Priority int
	// Headers are extra headers sent upstream, in file order: [name, value].
	Headers [][2]string
	Auth    Auth
	// ReasoningEffort (`reasoning: effort`; OpenAI-API targets) says the
	// target takes reasoning_effort: an Anthropic client's thinking (or
	// effort) is sent as it, and earlier thinking as reasoning_content.
	// False (`none`, the default) drops thinking.
	ReasoningEffort bool
	// MaxCompletionTokens (`max_tokens_field: max_completion_tokens`;
	// OpenAI-API targets) sends an Anthropic client's max_tokens as
	// max_completion_tokens, which OpenAI's reasoning models require. False
	// (`max_tokens`, the default) sends max_tokens.
	MaxCompletionTokens bool
	// MaxOutputTokens (`max_output_tokens`; OpenAI-API targets) is the most
	// output tokens the target accepts: a translated Anthropic request asking
	// for more (Claude Code asks for 64000; DeepSeek takes 8192) is sent with
	// this limit instead of being refused upstream. 0: no cap.
	MaxOutputTokens int
	// Line is where the target's entry starts in the file (0 when not from a file).
	Line int
}

// ModelSpec is one entry of the file's models: section.
type ModelSpec struct {
	// Name is the entry's key: a model name or a glob pattern.
	Name string
	// To makes the entry an alias: the upstream gets this model instead.
	To string
	// Fallback lists the models tried in order when this one fails in one of FallbackOn.
	Fallback []string
	// FallbackOn is when to fall back; DefaultFallbackOn when not given.
	FallbackOn KindSet
	// FirstByteTimeout overrides STREAM_FIRST_BYTE_TIMEOUT / RESPONSE_TIMEOUT; 0: not set.
	FirstByteTimeout time.Duration
	// Line is where the entry starts in the file.
	Line int
}

// File is a parsed and validated routing file.
type File struct {
	// Path is the file's name as given to Parse (used in error messages).
	Path    string
	Targets []TargetSpec
	Models  []ModelSpec
}

// Error is a problem in the routing file, with the line it is on and the
// field it concerns. It prints as one line:
// `llm-proxy.yaml:12: targets[1].weight: not a number: "x"`.
type Error struct {
	File  string
	Line  int
	Field string // e.g. targets[1].weight; empty for the whole file
	Msg   string
}

func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Msg
}

// Limits of a routing file.
const (
	// MaxTargets is the most targets (after one per key) a routing holds.
	MaxTargets = 256
	// MaxFallback is the longest fallback list.
	MaxFallback = 8
	// MaxWeight is the largest weight.
	MaxWeight = 10000
)

// Parse reads a routing file. path names the file in errors; lookup reads
// environment variables for ${NAME} (os.LookupEnv in main). Every problem is
// an *Error naming the line and the field.
func Parse(path string, data []byte, lookup func(string) (string, bool)) (*File, error) {
	p := &fileParser{file: path, lookup: lookup}
	root, err := parseYAML(path, data)
	if err != nil {
		return nil, err
	}
	if root == nil || root.Null {
		return nil, &Error{File: path, Msg: "empty file: give targets: and/or models:"}
	}
	if root.Kind != mappingNode {
		return nil, p.errf(root, "", "not a mapping of targets: and models:")
	}
	f := &File{Path: path}
	err = p.mapping(root, "", func(key string, k, v *node) error {
		switch key {
		case "targets":
			return p.targets(v, f)
		case "models":
			return p.models(v, f)
		}
		return p.errf(k, key, "unknown field (known: targets, models)")
	})
	if err != nil {
		return nil, err
	}
	if len(f.Targets) == 0 && len(f.Models) == 0 {
		return nil, &Error{File: path, Line: root.Line, Msg: "empty file: give targets: and/or models:"}
	}
	if len(f.Targets) > 0 {
		if err := p.crossCheck(f); err != nil {
			return nil, err
		}
	}
	return f, nil
}

type fileParser struct {
	file   string
	lookup func(string) (string, bool)
}

func (p *fileParser) errf(n *node, field, format string, args ...any) error {
	return &Error{File: p.file, Line: n.Line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// mapping calls fn for each key of a mapping node, in order, refusing
// duplicate keys and non-mapping nodes.
func (p *fileParser) mapping(n *node, field string, fn func(key string, k, v *node) error) error {
	if n.Kind != mappingNode {
		return p.errf(n, field, "not a mapping")
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != scalarNode {
			return p.errf(k, field, "keys must be plain text")
		}
		if seen[k.Value] {
			return p.errf(k, join(field, k.Value), "given twice")
		}
		seen[k.Value] = true
		if err := fn(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// str reads a scalar as text, with ${NAME} expanded.
func (p *fileParser) str(n *node, field string) (string, error) {
	if n.Kind != scalarNode || n.Null {
		return "", p.errf(n, field, "not a text value")
	}
	s, err := expand(n.Value, p.lookup)
	if err != nil {
		return "", p.errf(n, field, "%v", err)
	}
	return s, nil
}

// nonEmpty reads a scalar that must not be empty.
func (p *fileParser) nonEmpty(n *node, field string) (string, error) {
	s, err := p.str(n, field)
	if err == nil && strings.TrimSpace(s) == "" {
		err = p.errf(n, field, "empty")
	}
	return s, err
}

func (p *fileParser) integer(n *node, field string, lo, hi int) (int, error) {
	s, err := p.str(n, field)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, p.errf(n, field, "not a number: %q", s)
	}
	if v < lo || v > hi {
		return 0, p.errf(n, field, "%d is out of range %d..%d", v, lo, hi)
	}
	return v, nil
}

// list calls fn for each item of a sequence node.
func (p *fileParser) list(n *node, field string, fn func(i int, item *node) error) error {
	if n.Kind != sequenceNode {
		return p.errf(n, field, "not a list")
	}
	for i, item := range n.Content {
		if err := fn(i, item); err != nil {
			return err
		}
	}
	return nil
}

func index(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

var targetNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// forbiddenHeaders may not be set with headers: the proxy sets them itself.
var forbiddenHeaders = map[string]bool{
	"authorization": true, "x-api-key": true, "host": true, "content-length": true,
	"transfer-encoding": true, "connection": true,
}

var headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func (p *fileParser) targets(n *node, f *File) error {
	names := map[string]int{} // name -> line
	return p.list(n, "targets", func(i int, item *node) error {
		field := index("targets", i)
		var (
			t       = TargetSpec{Weight: 1, Line: item.Line}
			keys    []string
			hasAPI  bool
			gotName bool
			gotURL  bool
			gotKeys bool
			// openAIOnly are the fields that only an OpenAI-API target takes.
			openAIOnly []*node
			openAIKeys []string
		)
		err := p.mapping(item, field, func(key string, k, v *node) error {
			fk := field + "." + key
			var err error
			switch key {
			case "name":
				if t.Name, err = p.nonEmpty(v, fk); err != nil {
					return err
				}
				if !targetNameRE.MatchString(t.Name) {
					return p.errf(v, fk, "%q: use letters, digits, '.', '_' and '-' (shown in /metrics)", t.Name)
				}
				if line, dup := names[t.Name]; dup {
					return p.errf(v, fk, "%q is already the name of the target on line %d", t.Name, line)
				}
				names[t.Name] = v.Line
				gotName = true
			case "url":
				s, err := p.nonEmpty(v, fk)
				if err != nil {
					return err
				}
				u, err := url.Parse(s)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return p.errf(v, fk, "not an http(s) URL: %q", s)
				}
				if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
					return p.errf(v, fk, "%q: no query, fragment or user part, please", s)
				}
				t.URL = u
				gotURL = true
			case "keys":
				seen := map[string]int{}
				err = p.list(v, fk, func(j int, kn *node) error {
					s, err := p.nonEmpty(kn, index(fk, j))
					if err != nil {
						return err
					}
					if prev, dup := seen[s]; dup {
						return p.errf(kn, index(fk, j), "the same key as keys[%d]", prev)
					}
					seen[s] = j
					keys = append(keys, s)
					return nil
				})
				if err != nil {
					return err
				}
				if len(keys) == 0 {
					return p.errf(v, fk, "empty: give at least one key")
				}
				gotKeys = true
			case "api":
				s, err := p.str(v, fk)
				if err != nil {
					return err
				}
				switch s {
				case "openai":
					t.API = APIOpenAI
				case "anthropic":
					t.API = APIAnthropic
				case "any":
					t.API = APIAny
				default:
					return p.errf(v, fk, "%q: use openai, anthropic or any", s)
				}
				hasAPI = true
			case "models":
				err = p.list(v, fk, func(j int, mn *node) error {
					s, err := p.nonEmpty(mn, index(fk, j))
					if err != nil {
						return err
					}
					t.Models = append(t.Models, Glob(s))
					return nil
				})
				if err != nil {
					return err
				}
				if len(t.Models) == 0 {
					return p.errf(v, fk, "empty: leave it out to serve every model")
				}
			case "weight":
				t.Weight, err = p.integer(v, fk, 1, MaxWeight)
				return err
			case "priority":
				t.Priority, err = p.integer(v, fk, 0, 1000)
				return err
			case "headers":
				return p.mapping(v, fk, func(name string, hk, hv *node) error {
					hf := fk + "." + name
					if !headerNameRE.MatchString(name) {
						return p.errf(hk, hf, "not a header name")
					}
					if forbiddenHeaders[strings.ToLower(name)] {
						return p.errf(hk, hf, "set by the proxy itself (use keys: and auth:)")
					}
					val, err := p.str(hv, hf)
					if err != nil {
						return err
					}
					if strings.ContainsAny(val, "\r\n") {
						return p.errf(hv, hf, "contains a line break")
					}
					t.Headers = append(t.Headers, [2]string{name, val})
					return nil
				})
			case "auth":
				s, err := p.str(v, fk)
				if err != nil {
					return err
				}
				switch s {
				case "bearer":
					t.Auth = AuthBearer
				case "x-api-key":
					t.Auth = AuthXAPIKey
				default:
					return p.errf(v, fk, "%q: use bearer or x-api-key", s)
				}
			case "reasoning":
				s, err := p.str(v, fk)
				if err != nil {
					return err
				}
				switch s {
				case "effort":
					t.ReasoningEffort = true
				case "none":
					t.ReasoningEffort = false
				default:
					return p.errf(v, fk, "%q: use effort (thinking becomes reasoning_effort) or none", s)
				}
				openAIOnly, openAIKeys = append(openAIOnly, k), append(openAIKeys, fk)
			case "max_tokens_field":
				s, err := p.str(v, fk)
				if err != nil {
					return err
				}
				switch s {
				case "max_completion_tokens":
					t.MaxCompletionTokens = true
				case "max_tokens":
					t.MaxCompletionTokens = false
				default:
					return p.errf(v, fk, "%q: use max_tokens or max_completion_tokens", s)
				}
				openAIOnly, openAIKeys = append(openAIOnly, k), append(openAIKeys, fk)
			case "max_output_tokens":
				if t.MaxOutputTokens, err = p.integer(v, fk, 1, 1<<30); err != nil {
					return err
				}
				openAIOnly, openAIKeys = append(openAIOnly, k), append(openAIKeys, fk)
			default:
				return p.errf(k, fk, "unknown field (known: name, url, keys, api, models, weight, priority, headers, auth, reasoning, max_tokens_field, max_output_tokens)")
			}
			return nil
		})
		if err != nil {
			return err
		}
		switch {
		case !gotName:
			return p.errf(item, field+".name", "missing")
		case !gotURL:
			return p.errf(item, field+".url", "missing")
		case !gotKeys:
			return p.errf(item, field+".keys", "missing (write keys: [\"${ENV_VAR}\"])")
		}
		if !hasAPI {
			t.API = APIOpenAI
			if t.URL.Hostname() == "api.anthropic.com" {
				t.API = APIAnthropic
			}
		}
		if t.API == APIAnthropic && len(openAIOnly) > 0 {
			return p.errf(openAIOnly[0], openAIKeys[0], "only for targets that speak OpenAI's API (api: openai or any): it says how translated Anthropic requests are sent")
		}
		if t.Models == nil {
			t.Models = []Glob{"*"}
		}
		t.Group = t.Name
		for j, key := range keys {
			s := t
			s.Key = key
			if len(keys) > 1 {
				s.Name = t.Name + "#" + strconv.Itoa(j+1)
			}
			f.Targets = append(f.Targets, s)
		}
		if len(f.Targets) > MaxTargets {
			return p.errf(item, field, "more than %d targets (one per key)", MaxTargets)
		}
		return nil
	})
}

func (p *fileParser) models(n *node, f *File) error {
	err := p.mapping(n, "models", func(name string, k, v *node) error {
		field := "models." + name
		if strings.TrimSpace(name) == "" {
			return p.errf(k, "models", "empty model name")
		}
		m := ModelSpec{Name: name, FallbackOn: DefaultFallbackOn, Line: k.Line}
		if v.Kind == scalarNode && v.Null {
			return p.errf(v, field, "empty entry: give to:, fallback: or first_byte_timeout:")
		}
		hasOn := false
		err := p.mapping(v, field, func(key string, kk, vv *node) error {
			fk := field + "." + key
			var err error
			switch key {
			case "to":
				if m.To, err = p.nonEmpty(vv, fk); err != nil {
					return err
				}
				if IsPattern(m.To) {
					return p.errf(vv, fk, "%q: an alias points to one model, not a pattern", m.To)
				}
			case "fallback":
				seen := map[string]bool{name: true}
				err = p.list(vv, fk, func(j int, fn *node) error {
					fj := index(fk, j)
					s, err := p.nonEmpty(fn, fj)
					if err != nil {
						return err
					}
					if IsPattern(s) {
						return p.errf(fn, fj, "%q: a fallback is one model, not a pattern", s)
					}
					if seen[s] {
						return p.errf(fn, fj, "%q is already in the chain", s)
					}
					seen[s] = true
					m.Fallback = append(m.Fallback, s)
					return nil
				})
				if err != nil {
					return err
				}
				if len(m.Fallback) == 0 {
					return p.errf(vv, fk, "empty list")
				}
				if len(m.Fallback) > MaxFallback {
					return p.errf(vv, fk, "more than %d models", MaxFallback)
				}
			case "fallback_on":
				hasOn = true
				m.FallbackOn = 0
				err = p.list(vv, fk, func(j int, kn *node) error {
					s, err := p.str(kn, index(fk, j))
					if err != nil {
						return err
					}
					kind, ok := ParseKind(s)
					if !ok {
						return p.errf(kn, index(fk, j), "%q: use rate_limit, server_error, unreachable, timeout or context_length", s)
					}
					m.FallbackOn = m.FallbackOn.With(kind)
					return nil
				})
				if err != nil {
					return err
				}
				if m.FallbackOn == 0 {
					return p.errf(vv, fk, "empty list")
				}
			case "first_byte_timeout":
				s, err := p.str(vv, fk)
				if err != nil {
					return err
				}
				d, err := time.ParseDuration(strings.TrimSpace(s))
				if err != nil {
					return p.errf(vv, fk, "not a duration: %q (write 500ms, 30s, 5m)", s)
				}
				if d <= 0 {
					return p.errf(vv, fk, "must be positive: %q", s)
				}
				m.FirstByteTimeout = d
			default:
				return p.errf(kk, fk, "unknown field (known: to, fallback, fallback_on, first_byte_timeout)")
			}
			return nil
		})
		if err != nil {
			return err
		}
		if m.To != "" {
			switch {
			case IsPattern(name):
				return p.errf(k, field+".to", "an alias name must be a model name, not a pattern")
			case m.Fallback != nil || hasOn || m.FirstByteTimeout != 0:
				return p.errf(k, field+".to", "an alias carries no fallback or timeout of its own: put them on %q", m.To)
			case m.To == name:
				return p.errf(k, field+".to", "points to itself")
			}
		}
		if hasOn && m.Fallback == nil {
			return p.errf(k, field+".fallback_on", "given without fallback:")
		}
		f.Models = append(f.Models, m)
		return nil
	})
	if err != nil {
		return err
	}
	// Aliases point to models, not to other aliases (one rewrite, no loops).
	for _, m := range f.Models {
		if m.To == "" {
			continue
		}
		for _, o := range f.Models {
			if o.To != "" && o.Name == m.To {
				return &Error{File: p.file, Line: m.Line, Field: "models." + m.Name + ".to", Msg: fmt.Sprintf("%q is itself an alias (aliases do not chain)", m.To)}
			}
		}
	}
	return nil
}

// crossCheck makes sure every alias target and fallback model is served by
// some target (of any API), so a typo is caught at load, not at 3 a.m.
func (p *fileParser) crossCheck(f *File) error {
	served := func(model string) bool {
		if to := aliasOf(f.Models, model); to != "" {
			model = to
		}
		for i := range f.Targets {
			for _, g := range f.Targets[i].Models {
				if g.Match(model) {
					return true
				}
			}
		}
		return false
	}
	for _, m := range f.Models {
		if m.To != "" && !served(m.To) {
			return &Error{File: p.file, Line: m.Line, Field: "models." + m.Name + ".to", Msg: fmt.Sprintf("no target serves %q", m.To)}
		}
		for j, fb := range m.Fallback {
			if !served(fb) {
				return &Error{File: p.file, Line: m.Line, Field: index("models."+m.Name+".fallback", j), Msg: fmt.Sprintf("no target serves %q", fb)}
			}
		}
	}
	return nil
}

// aliasOf returns the model an alias name points to, or "".
func aliasOf(models []ModelSpec, name string) string {
	for i := range models {
		if models[i].To != "" && models[i].Name == name {
			return models[i].To
		}
	}
	return ""
}
