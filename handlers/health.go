package handlers

import "github.com/gofiber/fiber/v2"

// Health answers GET /healthz: the process is up and serving. It needs no
// auth and does no work.
func Health(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.SendString(`{"status":"ok"}`)
}
