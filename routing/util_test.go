package routing

import (
	"fmt"
	"net/url"
)

func sprint(v any) string { return fmt.Sprint(v) }

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
