package main

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    uint64
		wantErr bool
	}{
		{
			name: "plain",
			stat: "4242 (llm-proxy) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 37 0 0 20 0 9 0 12345 1234567 890 18446744073709551615\n",
			want: 187,
		},
		{
			name: "comm with spaces and parentheses",
			stat: "77 (a b) (c)) R 1 77 77 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1\n",
			want: 11,
		},
		{name: "no comm", stat: "77 a R 1", wantErr: true},
		{name: "truncated", stat: "77 (x) R 1 2 3", wantErr: true},
		{name: "not a number", stat: "77 (x) R 1 77 77 0 -1 0 0 0 0 0 x 6 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %d ticks, want %d", got, tt.want)
			}
		})
	}
}

const statusSample = `Name:	llm-proxy
Umask:	0022
State:	S (sleeping)
VmPeak:	 1265876 kB
VmHWM:	   41220 kB
VmRSS:	   38004 kB
RssAnon:	   22000 kB
Threads:	9
`

func TestParseStatusKB(t *testing.T) {
	tests := []struct {
		key     string
		want    int64
		wantErr bool
	}{
		{"VmHWM", 41220, false},
		{"VmRSS", 38004, false},
		{"Threads", 9, false}, // no unit: the number as it is
		{"VmSwap", 0, true},   // absent
		{"Vm", 0, true},       // a prefix of keys is no key
		{"Name", 0, true},     // not a number
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got, err := parseStatusKB([]byte(statusSample), tt.key)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestParseMachineCPU(t *testing.T) {
	stat := "cpu  100 5 50 800 20 1 2 3 7 0\ncpu0 50 2 25 400 10 0 1 1 0 0\ncpu1 50 3 25 400 10 1 1 2 0 0\nintr 1 2 3\n"
	busy, total, ncpu, err := parseMachineCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	// total = 100+5+50+800+20+1+2+3 = 981 (guest not added again); busy = 981-800-20.
	if busy != 161 || total != 981 || ncpu != 2 {
		t.Errorf("got busy %d total %d ncpu %d, want 161 981 2", busy, total, ncpu)
	}
	if _, _, _, err := parseMachineCPU([]byte("intr 1\n")); err == nil {
		t.Error("no cpu line: want an error")
	}
}

// TestProcSelf reads this process's own /proc files, as the bench reads the proxy's.
func TestProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	pid := os.Getpid()
	before, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	spin := 0
	for end := time.Now().Add(30 * time.Millisecond); time.Now().Before(end); {
		spin++ // burn some CPU
	}
	after, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	if after < before {
		t.Errorf("CPU time went back: %v then %v", before, after)
	}
	rss, hwm, err := procMem(pid)
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || hwm < rss {
		t.Errorf("VmRSS %d kB, VmHWM %d kB: want 0 < rss <= hwm", rss, hwm)
	}
}
