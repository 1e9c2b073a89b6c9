package sim

// KeyState is how the server treats one upstream key, set with
// [Server.SetKeyState]: the states a key-health router must tell apart.
type KeyState int

const (
	// KeyOK serves the key as usual (the default; also "recovered").
	KeyOK KeyState = iota
	// KeyRevoked answers every request with the key 401 in the family's
	// shape (invalid_api_key / authentication_error).
	KeyRevoked
	// KeyQuotaExhausted answers OpenAI routes 429 insufficient_quota and
	// Anthropic routes 400 "credit balance is too low".
	KeyQuotaExhausted
)

// Messages of the key-state errors, for assertions.
const (
	// QuotaMessage is the OpenAI insufficient_quota message.
	QuotaMessage = "You exceeded your current quota, please check your plan and billing details."
	// CreditMessage is the Anthropic low-credit message.
	CreditMessage = "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."
)

// SetKeyState sets how requests presenting key are answered from now on;
// KeyOK restores normal service. It applies before scripted steps.
func (s *Server) SetKeyState(key string, st KeyState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st == KeyOK {
		delete(s.keys, key)
		return
	}
	s.keys[key] = st
}

// writeKeyState answers with the error of a revoked or exhausted key.
func (c *call) writeKeyState(fam family, st KeyState) {
	switch {
	case st == KeyRevoked:
		c.writeError(fam, errUnauthorized)
	case fam == familyAnthropic:
		c.writeBody(400, "application/json", AnthropicError("invalid_request_error", CreditMessage))
	default:
		c.writeBody(429, "application/json", openAIErrorCode("insufficient_quota", "insufficient_quota", QuotaMessage))
	}
}
