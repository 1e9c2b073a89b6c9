package routing

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// MaskKey shows a key as its first three and last four characters
// ("sk-…wxyz"); a key of fewer than 12 characters shows as "…" only.
func MaskKey(key string) string {
	if len(key) < 12 {
		return "…"
	}
	return key[:3] + "…" + key[len(key)-4:]
}

// Describe writes the resolved targets and models, keys masked: what
// `llm-proxy -check-config FILE` prints.
func (r *Routing) Describe(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "targets (%d):\n", len(r.targets))
	fmt.Fprintln(tw, "  NAME\tURL\tKEY\tAPI\tPRIORITY\tWEIGHT\tMODELS\tAUTH\tHEADERS\tTRANSLATED AS")
	for _, t := range r.targets {
		models := make([]string, len(t.Models))
		for i, g := range t.Models {
			models[i] = string(g)
		}
		var headers []string
		for _, h := range t.Headers {
			headers = append(headers, h[0])
		}
		auth := t.Auth.String()
		if auth == "" {
			auth = "client's"
		}
		var as []string
		if t.ReasoningEffort {
			as = append(as, "reasoning_effort")
		}
		if t.MaxCompletionTokens {
			as = append(as, "max_completion_tokens")
		}
		if t.MaxOutputTokens > 0 {
			as = append(as, "output<="+strconv.Itoa(t.MaxOutputTokens))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", t.Name, urlString(t.URL), MaskKey(t.Key), t.API,
			t.Priority, t.Weight, strings.Join(models, ","), auth, dash(strings.Join(headers, ",")), dash(strings.Join(as, ",")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.models) == 0 {
		_, err := fmt.Fprintln(w, "models: none (every model goes to the targets that serve it, no alias, no fallback)")
		return err
	}
	fmt.Fprintf(tw, "models (%d):\n", len(r.models))
	fmt.Fprintln(tw, "  MODEL\tALIAS OF\tFALLBACK\tFALLBACK ON\tFIRST BYTE TIMEOUT\tSERVED BY")
	for _, m := range r.models {
		timeout := "-"
		if m.FirstByteTimeout > 0 {
			timeout = m.FirstByteTimeout.String()
		}
		on := "-"
		if m.Fallback != nil {
			on = m.FallbackOn.String()
		}
		model := m.Name
		if m.To != "" {
			model = m.To
		}
		var by []string
		for _, t := range r.targets {
			if IsPattern(model) || t.Serves(model) {
				if !IsPattern(model) || patternOverlaps(t, model) {
					by = append(by, t.Name)
				}
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", m.Name, dash(m.To), dash(strings.Join(m.Fallback, ",")), on, timeout, dash(strings.Join(by, ",")))
	}
	return tw.Flush()
}

// patternOverlaps reports whether target t may serve some model of the
// pattern: one of its patterns matches the pattern's fixed prefix, or is a
// pattern whose prefix starts the same way.
func patternOverlaps(t *Target, pattern string) bool {
	prefix := Glob(pattern).Prefix()
	for _, g := range t.Models {
		gp := g.Prefix()
		if g.Match(prefix) || strings.HasPrefix(prefix, gp) && IsPattern(string(g)) || strings.HasPrefix(gp, prefix) {
			return true
		}
	}
	return false
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
