package routing

import "strings"

// Glob is a model name pattern: '*' matches any run of characters (including
// none, and including '/'), '?' matches one character, everything else
// matches itself.
//
// Hand-written rather than path.Match: path.Match's '*' stops at '/', but
// model names of relays such as OpenRouter contain slashes
// ("openai/gpt-4o"), and "*" must match them; and its character classes
// would make model names containing '[' fail to parse.
type Glob string

// IsPattern reports whether s contains a wildcard.
func IsPattern(s string) bool { return strings.ContainsAny(s, "*?") }

// Prefix returns the text before the pattern's first wildcard (the whole
// text for a plain name); a longer prefix is a more specific pattern.
func (g Glob) Prefix() string {
	if i := strings.IndexAny(string(g), "*?"); i >= 0 {
		return string(g[:i])
	}
	return string(g)
}

// Match reports whether name matches the pattern. It does not allocate.
func (g Glob) Match(name string) bool {
	p := string(g)
	// Iterative matching with one backtrack point (the last '*'): linear in
	// practice, and never exponential.
	px, nx := 0, 0
	starP, starN := -1, 0
	for px < len(p) || nx < len(name) {
		if px < len(p) {
			switch c := p[px]; c {
			case '*':
				starP, starN = px, nx
				px++
				continue
			case '?':
				if nx < len(name) {
					px++
					nx++
					continue
				}
			default:
				if nx < len(name) && name[nx] == c {
					px++
					nx++
					continue
				}
			}
		}
		if starP >= 0 && starN < len(name) {
			starN++
			px, nx = starP+1, starN
			continue
		}
		return false
	}
	return true
}
