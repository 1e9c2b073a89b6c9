package dashboard

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/llm-proxy/llm-proxy/static"
)

// versionMarker is replaced in the HTML pages by the assets' content hash,
// so that /assets/app.js?v=<hash> can be cached for a long time.
const versionMarker = "__V__"

// The markers that reveal the login page's error messages.
const (
	invalidKeyMarker = `id="err-invalid" data-i18n="invalid_key" hidden`
	throttledMarker  = `id="err-throttled" data-i18n="too_many" hidden`
)

// asset is one static file, ready to send.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// site is the embedded page set, prepared once.
type site struct {
	version     string
	assets      map[string]asset
	index       []byte // the dashboard
	login       []byte // the login form
	loginError  []byte // the login form showing "Invalid key"
	loginThrott []byte // the login form showing "Too many attempts"
}

// newSite reads static.FS. The files are embedded, so a failure here is a
// build defect and panics.
func newSite() *site {
	names, err := fs.Glob(static.FS, "*")
	if err != nil {
		panic("dashboard: listing embedded files: " + err.Error())
	}
	sort.Strings(names)
	s := &site{assets: make(map[string]asset)}
	all := sha256.New()
	var pages = map[string]string{}
	for _, name := range names {
		b, err := fs.ReadFile(static.FS, name)
		if err != nil {
			panic("dashboard: reading embedded " + name + ": " + err.Error())
		}
		if strings.HasSuffix(name, ".html") {
			pages[name] = string(b)
			continue
		}
		ct := contentType(name)
		if ct == "" {
			continue // not a servable file (e.g. embed.go is never embedded, but be strict)
		}
		sum := sha256.Sum256(b)
		all.Write([]byte(name))
		all.Write(sum[:])
		s.assets[name] = asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	s.version = hex.EncodeToString(all.Sum(nil)[:6])
	for _, p := range []string{"index.html", "login.html"} {
		if _, ok := pages[p]; !ok {
			panic("dashboard: embedded " + p + " is missing")
		}
	}
	idx := strings.ReplaceAll(pages["index.html"], versionMarker, s.version)
	login := strings.ReplaceAll(pages["login.html"], versionMarker, s.version)
	if !strings.Contains(login, invalidKeyMarker) || !strings.Contains(login, throttledMarker) {
		panic("dashboard: login.html lacks its error markers")
	}
	s.index = []byte(idx)
	s.login = []byte(login)
	s.loginError = []byte(strings.Replace(login, invalidKeyMarker, strings.TrimSuffix(invalidKeyMarker, " hidden"), 1))
	s.loginThrott = []byte(strings.Replace(login, throttledMarker, strings.TrimSuffix(throttledMarker, " hidden"), 1))
	return s
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	case ".woff2":
		return "font/woff2"
	}
	return ""
}

// Assets serves the embedded stylesheet, script and icon under /assets/*
// (GET and HEAD). Requests carrying the current ?v= version are cached for a
// year (the pages link them that way); others revalidate with the ETag.
func (d *Dashboard) Assets() fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := c.Path()
		name := c.Params("*")
		if i := strings.Index(p, "/assets/"); i >= 0 {
			name = p[i+len("/assets/"):]
		}
		a, ok := d.site.assets[name]
		if !ok {
			return c.SendStatus(fiber.StatusNotFound)
		}
		if m := c.Method(); m != fiber.MethodGet && m != fiber.MethodHead {
			c.Set(fiber.HeaderAllow, "GET, HEAD")
			return c.SendStatus(fiber.StatusMethodNotAllowed)
		}
		c.Set(fiber.HeaderETag, a.etag)
		if c.Query("v") == d.site.version {
			c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
		} else {
			c.Set(fiber.HeaderCacheControl, "no-cache")
		}
		if match := c.Get(fiber.HeaderIfNoneMatch); match != "" && strings.Contains(match, a.etag) {
			return c.SendStatus(fiber.StatusNotModified)
		}
		c.Set(fiber.HeaderContentType, a.contentType)
		return c.Send(a.body)
	}
}
