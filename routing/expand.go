package routing

import (
	"fmt"
	"strings"
)

// expand replaces every ${NAME} in s with the environment variable NAME, read
// through lookup. An unset variable is an error naming it; a '$' not followed
// by '{' is kept as it is (keys may contain '$').
//
// Hand-written rather than os.Expand: os.Expand also expands $NAME without
// braces and silently turns an unset variable into "", which would send an
// empty key upstream instead of saying which variable is missing.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	i := strings.Index(s, "${")
	if i < 0 {
		return s, nil
	}
	var b strings.Builder
	for i >= 0 {
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed ${ in %q", s)
		}
		name := s[i+2 : i+end]
		if !validVarName(name) {
			return "", fmt.Errorf("bad variable name ${%s}", name)
		}
		v, ok := lookup(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
		i = strings.Index(s, "${")
	}
	b.WriteString(s)
	return b.String(), nil
}

func validVarName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		if c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}
