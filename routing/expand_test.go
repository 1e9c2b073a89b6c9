package routing

import "testing"

func TestExpand(t *testing.T) {
	env := map[string]string{"KEY": "sk-1", "EMPTY": "", "B": "b"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := []struct {
		in, want, err string
	}{
		{"plain", "plain", ""},
		{"${KEY}", "sk-1", ""},
		{"a${KEY}b${B}c", "ask-1bbc", ""},
		{"${EMPTY}", "", ""},
		{"$KEY", "$KEY", ""},
		{"sk-$$x", "sk-$$x", ""},
		{"${MISSING}", "", "environment variable MISSING is not set"},
		{"${KEY", "", `unclosed ${ in "${KEY"`},
		{"${}", "", "bad variable name ${}"},
		{"${1X}", "", "bad variable name ${1X}"},
	}
	for _, c := range cases {
		got, err := expand(c.in, lookup)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("expand(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
