package dashboard

import (
	"math"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Page serves GET /: the dashboard with a valid session, else the login
// form (showing "Invalid key" after a failed login, ?error=1).
func (d *Dashboard) Page(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderVary, "Cookie")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	if _, ok := d.session(c); ok {
		return c.Send(d.site.index)
	}
	if c.Query("error") == "1" {
		return c.Send(d.site.loginError)
	}
	return c.Send(d.site.login)
}

// Login handles POST /login (form field "key"). A foreign Origin gets 403;
// too many attempts from one client address get 429 and the login page; a
// wrong key is redirected (303) to /?error=1 without saying what was wrong;
// the right key starts a session and redirects (303) to /.
func (d *Dashboard) Login(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if !sameOrigin(c, true) {
		return c.Status(fiber.StatusForbidden).SendString("forbidden")
	}
	addr := d.addr(c)
	if ok, wait := d.limiter.allow(addr); !ok {
		d.log.Warn("dashboard: login throttled", "client", addr)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return c.Status(fiber.StatusTooManyRequests).Send(d.site.loginThrott)
	}
	if !d.keyOK(c.FormValue("key")) {
		d.log.Info("dashboard: login failed", "client", addr)
		return c.Redirect("/?error=1", fiber.StatusSeeOther)
	}
	tok := d.sessions.create()
	d.setCookie(c, tok, d.ttl)
	d.log.Info("dashboard: login", "client", addr)
	return c.Redirect("/", fiber.StatusSeeOther)
}

// Logout handles POST /logout: it ends the session (closing its live-feed
// connections), clears the cookie and redirects (303) to /. A foreign
// Origin gets 403.
func (d *Dashboard) Logout(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if !sameOrigin(c, true) {
		return c.Status(fiber.StatusForbidden).SendString("forbidden")
	}
	if tok := c.Cookies(SessionCookie); tok != "" {
		id := hashToken(tok)
		d.sessions.delete(id)
		d.hub.endSession(id)
	}
	d.setCookie(c, "", 0)
	return c.Redirect("/", fiber.StatusSeeOther)
}

// setCookie sets the session cookie for ttl or, with an empty value, deletes
// it: HttpOnly, SameSite=Strict, Path=/, Secure when the request came over HTTPS.
func (d *Dashboard) setCookie(c *fiber.Ctx, value string, ttl time.Duration) {
	maxAge, exp := int(ttl/time.Second), time.Now().Add(ttl)
	if value == "" || maxAge <= 0 {
		maxAge, exp = -1, time.Unix(0, 0) // delete now
	}
	c.Cookie(&fiber.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     "/",
		Expires:  exp,
		MaxAge:   maxAge,
		Secure:   isHTTPS(c),
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteStrictMode,
	})
}

// StatsJSON serves GET /api/stats: the dashboard snapshot as JSON for a
// request with "Authorization: Bearer <key>" (any configured key) or a
// valid session; otherwise 401 {"error":"unauthorized"}.
func (d *Dashboard) StatsJSON(c *fiber.Ctx) error {
	if !d.bearerOK(c) {
		if _, ok := d.session(c); !ok {
			return unauthorized(c)
		}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if d.rec == nil {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "no recorder"})
	}
	return c.JSON(d.rec.Snapshot())
}
