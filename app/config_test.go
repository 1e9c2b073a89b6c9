package app

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func lookupFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func validEnv() map[string]string {
	return map[string]string{
		"PROXY_URL":     "https://api.example.com/v1",
		"API_KEY":       "sk-up",
		"MY_ACCESS_KEY": "client-key",
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	assert.Equal(t, 3, c.MaxRetries)
	assert.Equal(t, 8000, c.Port)
	assert.Equal(t, ByteSize(32<<20), c.BodyLimit)
	assert.Equal(t, StatusList{429, 500, 502, 503, 504, 529}, c.RetryStatuses)
	assert.Equal(t, 3*time.Second, c.MaxCooldownWait)
	assert.GreaterOrEqual(t, c.StreamIdleTimeout, 30*time.Second)
	assert.Equal(t, "./data/llm-proxy.db", c.DBPath)
}

func TestLoad_Errors(t *testing.T) {
	tests := []struct {
		variable, value, wantMsg string
	}{
		{"MAX_RETRIES", "abc", `MAX_RETRIES: not a number: "abc"`},
		{"PORT", "80a", `PORT: not a number: "80a"`},
		{"CONNECT_TIMEOUT", "5", `CONNECT_TIMEOUT: not a duration (use e.g. 30s, 2m, 1h): "5"`},
		{"BODY_LIMIT", "lots", `BODY_LIMIT: not a size (use e.g. 32MiB, 500KB, 1048576): "lots"`},
		{"RETRY_STATUSES", "429,abc", `RETRY_STATUSES: not a list of HTTP statuses (e.g. 429,500,503): "429,abc"`},
		{"RETRY_STATUSES", "429,99", `RETRY_STATUSES: not a list of HTTP statuses (e.g. 429,500,503): "429,99"`},
		{"PPROF", "maybe", `PPROF: not true or false: "maybe"`},
		{"DEMO_RATE_LIMIT_SHARE", "x", `DEMO_RATE_LIMIT_SHARE: not a number: "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.variable+"="+tt.value, func(t *testing.T) {
			env := validEnv()
			env[tt.variable] = tt.value
			_, err := Load(lookupFrom(env))
			require.Error(t, err)
			assert.Equal(t, tt.wantMsg, err.Error())
			var ce *ConfigError
			require.True(t, errors.As(err, &ce))
			assert.Equal(t, tt.variable, ce.Var)
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  map[string]string
		demo    bool
		wantVar string // "" = valid
	}{
		{"valid", nil, false, ""},
		{"no access key", map[string]string{"MY_ACCESS_KEY": ""}, false, "MY_ACCESS_KEY"},
		{"empty access key in list", map[string]string{"MY_ACCESS_KEY": "a,,b"}, false, "MY_ACCESS_KEY"},
		{"no proxy url", map[string]string{"PROXY_URL": ""}, false, "PROXY_URL"},
		{"no proxy url in demo", map[string]string{"PROXY_URL": "", "API_KEY": ""}, true, ""},
		{"no api key", map[string]string{"API_KEY": ""}, false, "API_KEY"},
		{"bad url", map[string]string{"PROXY_URL": "api.example.com/v1"}, false, "PROXY_URL"},
		{"ftp url", map[string]string{"PROXY_URL": "ftp://x/v1"}, false, "PROXY_URL"},
		{"url with credentials", map[string]string{"PROXY_URL": "https://u:p@x/v1"}, false, "PROXY_URL"},
		{"mismatched lists", map[string]string{"PROXY_URL": "https://a/v1,https://b/v1", "API_KEY": "k1,k2,k3"}, false, "API_KEY"},
		{"negative retries", map[string]string{"MAX_RETRIES": "-1"}, false, "MAX_RETRIES"},
		{"zero retries ok", map[string]string{"MAX_RETRIES": "0"}, false, ""},
		{"port zero", map[string]string{"PORT": "0"}, false, "PORT"},
		{"port too big", map[string]string{"PORT": "70000"}, false, "PORT"},
		{"log format", map[string]string{"LOG_FORMAT": "xml"}, false, "LOG_FORMAT"},
		{"log level", map[string]string{"LOG_LEVEL": "loud"}, false, "LOG_LEVEL"},
		{"tiny body limit", map[string]string{"BODY_LIMIT": "10"}, false, "BODY_LIMIT"},
		{"names count", map[string]string{"TARGET_NAMES": "a,b"}, false, "TARGET_NAMES"},
		{"share over 1", map[string]string{"DEMO_RATE_LIMIT_SHARE": "1.5"}, false, "DEMO_RATE_LIMIT_SHARE"},
		{"empty db path", map[string]string{"DB_PATH": " "}, false, "DB_PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := validEnv()
			for k, v := range tt.change {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			if tt.name == "empty access key in list" {
				env["MY_ACCESS_KEY"] = "a,,b"
			}
			cfg, err := Load(lookupFrom(env))
			require.NoError(t, err)
			cfg.Demo = tt.demo
			err = cfg.Validate()
			if tt.wantVar == "" {
				assert.NoError(t, err)
				return
			}
			var ce *ConfigError
			require.True(t, errors.As(err, &ce), "got %v", err)
			assert.Equal(t, tt.wantVar, ce.Var)
			assert.Contains(t, err.Error(), tt.wantVar+": ")
		})
	}
}

func TestTargetSpecs_Pairing(t *testing.T) {
	tests := []struct {
		name, urls, keys string
		want             []string // name/key pairs
	}{
		{"one and one", "https://a.com/v1", "k1", []string{"a.com/k1"}},
		{"equal lists pair up", "https://a.com/v1,https://b.com/v1", "k1,k2", []string{"a.com/k1", "b.com/k2"}},
		{"one url, several keys", "https://a.com/v1", "k1,k2,k3", []string{"a.com#1/k1", "a.com#2/k2", "a.com#3/k3"}},
		{"several urls, one key", "https://a.com/v1,https://b.com/openai/v1", "k1", []string{"a.com/k1", "b.com/k1"}},
		{"spaces trimmed", " https://a.com/v1 , https://b.com/v1 ", " k1 , k2 ", []string{"a.com/k1", "b.com/k2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := validEnv()
			env["PROXY_URL"], env["API_KEY"] = tt.urls, tt.keys
			cfg, err := Load(lookupFrom(env))
			require.NoError(t, err)
			specs, err := cfg.TargetSpecs()
			require.NoError(t, err)
			var got []string
			for _, s := range specs {
				got = append(got, s.Name+"/"+s.Key)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestTargetSpecs_BasePathKept(t *testing.T) {
	env := validEnv()
	env["PROXY_URL"] = "https://relay.example.com/openai/v1/"
	cfg, err := Load(lookupFrom(env))
	require.NoError(t, err)
	specs, err := cfg.TargetSpecs()
	require.NoError(t, err)
	assert.Equal(t, "/openai/v1", specs[0].URL.Path)
}

func TestByteSize_UnmarshalText(t *testing.T) {
	tests := map[string]int64{"1048576": 1 << 20, "32MiB": 32 << 20, "500KB": 500e3, "1GiB": 1 << 30, "64 mib": 64 << 20, "10B": 10}
	for in, want := range tests {
		var b ByteSize
		require.NoError(t, b.UnmarshalText([]byte(in)), in)
		assert.Equal(t, ByteSize(want), b, in)
	}
	var b ByteSize
	assert.Error(t, b.UnmarshalText([]byte("-1")))
	assert.Error(t, b.UnmarshalText([]byte("1TiB")))
}

func TestSettings_DocumentEveryVariable(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Settings() {
		assert.NotEmpty(t, s.Help, s.Name)
		assert.False(t, seen[s.Name], "duplicate %s", s.Name)
		seen[s.Name] = true
	}
	for _, name := range []string{"PROXY_URL", "API_KEY", "MY_ACCESS_KEY", "MAX_RETRIES", "PORT"} {
		assert.True(t, seen[name], name)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("3", "8000", "32MiB", "429,500", "10s", "https://a/v1", "k1,k2")
	f.Add("-1", "x", "1TiB", ",,", "5", "::", "")
	f.Fuzz(func(t *testing.T, retries, port, body, statuses, timeout, urls, keys string) {
		env := map[string]string{"MAX_RETRIES": retries, "PORT": port, "BODY_LIMIT": body,
			"RETRY_STATUSES": statuses, "CONNECT_TIMEOUT": timeout, "PROXY_URL": urls, "API_KEY": keys, "MY_ACCESS_KEY": "k"}
		cfg, err := Load(lookupFrom(env))
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Var == "" {
				t.Fatalf("error does not name a variable: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Var == "" {
				t.Fatalf("error does not name a variable: %v", err)
			}
		}
	})
}
