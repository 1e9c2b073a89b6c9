// Package static holds the dashboard's web page, login page, stylesheet,
// script and icon, embedded in the binary so the proxy serves them without
// any file on disk, CDN or build step.
package static

import "embed"

// FS holds the dashboard files: index.html (the dashboard), login.html (the
// sign-in form), app.css, app.js (including its English/中文 strings) and
// favicon.svg. Paths are the bare file names, e.g. "app.js".
//
//go:embed index.html login.html app.css app.js favicon.svg
var FS embed.FS
