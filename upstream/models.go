package upstream

import (
	"sort"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llm-proxy/llm-proxy/routing"
)

// modelsTTL is how long the union of the upstreams' model lists is reused.
const modelsTTL = time.Minute

// modelsCache holds the last union of model lists, for one routing.
type modelsCache struct {
	mu     sync.Mutex
	r      *routing.Routing
	at     time.Time
	models []ListedModel
}

// ListedModel is one model of GET /v1/models with a routing file.
type ListedModel struct {
	ID string
	// Owner is the routing file's name of the first target that lists it
	// (the alias name's own for an alias).
	Owner string
}

// ListModels returns the union of what every target's upstream lists (one
// healthy key per distinct URL, whatever its API), each list filtered by
// the models patterns of the targets at that URL, plus the alias names;
// sorted by id. The union is cached for a minute (a reload starts afresh).
// ok is false without a routing file.
func (rl *Relay) ListModels(now time.Time) (models []ListedModel, ok bool) {
	rs := rl.routed.Load()
	if rs == nil {
		return nil, false
	}
	c := &rl.models
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.r == rs.r && now.Sub(c.at) < modelsTTL {
		return c.models, true
	}
	// One key per URL: the first target there whose key is usable.
	byURL := map[string][]*routing.Target{}
	var urls []string
	for _, t := range rs.r.Targets() {
		u := t.URL.String()
		if byURL[u] == nil {
			urls = append(urls, u)
		}
		byURL[u] = append(byURL[u], t)
	}
	lists := make([][]string, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		rt := rs.r.FirstUsable(byURL[u], now)
		if rt == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body := getModels(rs.targets[rt.Index], rt, 16<<20)
			if status < 200 || status >= 300 {
				return
			}
			for _, id := range gjson.GetBytes(body, "data.#.id").Array() {
				lists[i] = append(lists[i], id.String())
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	var out []ListedModel
	for i, u := range urls {
		for _, id := range lists[i] {
			if seen[id] {
				continue
			}
			for _, t := range byURL[u] {
				if t.Serves(id) {
					seen[id] = true
					out = append(out, ListedModel{ID: id, Owner: t.Group})
					break
				}
			}
		}
	}
	for _, a := range rs.r.Aliases() {
		if !seen[a] {
			seen[a] = true
			out = append(out, ListedModel{ID: a, Owner: "alias"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	c.r, c.at, c.models = rs.r, now, out
	return out, true
}
