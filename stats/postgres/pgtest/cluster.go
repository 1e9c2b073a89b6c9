package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// Password is the password of the user postgres on a Cluster (host
// connections need it; a wrong one is refused).
const Password = "pgtest-secret"

// Cluster is a throwaway PostgreSQL server of a test's own (initdb into a
// temporary folder, a free port), so that a test may stop and start it
// without disturbing anyone else's tests on the shared server.
type Cluster struct {
	dir, bin, port string
	asPostgres     bool // run the server tools as the user postgres (we are root)
}

// NewCluster creates and starts a cluster; it is stopped and removed when
// t ends. The test is skipped when no PostgreSQL server binaries are installed.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
	}
	c := &Cluster{bin: filepath.Dir(bins[len(bins)-1]), asPostgres: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "pgtest-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() {
		_ = c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	})
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c.asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root without a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dir, pw} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.run("initdb", "-D", c.data(), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
		"--pwfile="+pw, "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	c.Start(t)
	return c
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) run(tool string, args ...string) error {
	path := filepath.Join(c.bin, tool)
	var cmd *exec.Cmd
	if c.asPostgres {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", tool, err, out)
	}
	return nil
}

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	opts := fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, c.dir)
	if err := c.run("pg_ctl", "-D", c.data(), "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "start"); err != nil {
		t.Fatalf("start cluster: %v", err)
	}
}

// Stop stops the server at once (connections are cut, as in a crash or a failover).
func (c *Cluster) Stop(t testing.TB) { c.StopMode(t, "immediate") }

// StopMode stops the server with pg_ctl's shutdown mode: "immediate" cuts
// the connections; "fast" (what a service manager or a managed database's
// maintenance does) ends each session with an error (SQLSTATE 57P01) first.
func (c *Cluster) StopMode(t testing.TB, mode string) {
	t.Helper()
	if err := c.run("pg_ctl", "-D", c.data(), "-m", mode, "-w", "stop"); err != nil {
		t.Fatalf("stop cluster: %v", err)
	}
}

// URL is the address of database db on the cluster with password (use
// Password for the right one).
func (c *Cluster) URL(db, password string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%s/%s?sslmode=disable", password, c.port, db)
}
