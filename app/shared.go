package app

import (
	"time"

	"github.com/llm-proxy/llm-proxy/routing"
	"github.com/llm-proxy/llm-proxy/stats/postgres"
)

// shareRoutingState makes the replicas share cooldowns and key health
// through the PostgreSQL store (REPLICAS.md): the targets' Retry-After
// cooldowns and, with a routing file, routing's per-(target, model)
// cooldowns and disabled keys. Changes from other replicas are applied to
// the current routing (a reload swaps it).
func (a *App) shareRoutingState() {
	share := a.pg.Cooldowns(func(c postgres.Change) {
		if r := a.Routing(); r != nil {
			r.Apply(fromShared(c, time.Now()))
		}
		if c.Kind == postgres.ChangeCool {
			a.targets.ApplyCooldown(c.Target, c.Model, c.Until)
		}
	})
	a.targets.SetCooldownShare(share)
	if r := a.Routing(); r != nil {
		// Registered once: it stays registered across reloads.
		r.OnChange(func(c routing.Change) { share.Share(toShared(c)) })
	}
}

// toShared converts a routing change for the store.
func toShared(c routing.Change) postgres.Change {
	out := postgres.Change{Target: c.Target, Model: c.Model, Until: c.Until, Reason: c.Reason, Quota: c.Quota, Capped: c.Capped}
	switch c.Kind {
	case routing.ChangeCool:
		out.Kind = postgres.ChangeCool
	case routing.ChangeDisable:
		out.Kind = postgres.ChangeDisable
	case routing.ChangeEnable:
		out.Kind = postgres.ChangeEnable
	}
	return out
}

// fromShared converts another replica's change for routing; at is when it arrived.
func fromShared(c postgres.Change, at time.Time) routing.Change {
	out := routing.Change{Target: c.Target, Model: c.Model, Until: c.Until, Reason: c.Reason, Quota: c.Quota, Capped: c.Capped, At: at}
	switch c.Kind {
	case postgres.ChangeCool:
		out.Kind = routing.ChangeCool
	case postgres.ChangeDisable:
		out.Kind = routing.ChangeDisable
	case postgres.ChangeEnable:
		out.Kind = routing.ChangeEnable
	}
	return out
}
