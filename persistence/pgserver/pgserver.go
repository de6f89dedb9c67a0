// Package pgserver runs the embedded default PostgreSQL server of dw: a
// private cluster that lives in <data dir>/postgres, is created on first use
// with the system's PostgreSQL server binaries, and listens on 127.0.0.1 only.
//
// The server runs in its own session/process group, so it survives the death
// (even kill -9) of the process that started it; a later Start on the same data
// directory adopts a running server or restarts a crashed one.
//
// Every process that uses the server holds a lease on it (a flock of
// <data dir>/postgres.lease, see leaseFile): Release stops the server when the
// last user lets it go, and leaves it running while another process (a
// `dw serve`, another command) still uses it. A server left by a killed process
// has no user, so the next process that adopts it stops it when it is done.
package pgserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// User is the superuser created by initdb, Database the database dw uses.
	User     = "dw"
	Database = "dw"

	pgDirName    = "postgres"
	passwordFile = "postgres.password"
	logFile      = "postgres.log"

	// maxSocketPath is the longest unix socket path we are willing to use
	// (sun_path is 108 bytes on Linux, less elsewhere).
	maxSocketPath = 100

	defaultStartTimeout = 2 * time.Minute
)

// BinaryGlob is where FindBinaries looks for server binaries when initdb and
// pg_ctl are not on PATH. The highest version wins. A variable for tests.
var BinaryGlob = "/usr/lib/postgresql/*/bin"

// Options configures Start.
type Options struct {
	DataDir string       // the dw data directory; the PG cluster lives in DataDir/postgres
	Logger  *slog.Logger // nil = slog.Default()
	NoFsync bool         // tests only: fsync=off, synchronous_commit=off, full_page_writes=off
	Port    int          // 0 = choose a free 127.0.0.1 port at first init, persist it, reuse later
	// SharedBuffers is PostgreSQL's shared_buffers for this start, e.g. "2GB"; "" = 128MB
	// (PostgreSQL's default, right for tests that run many servers).
	SharedBuffers string
	// RestartSmaller: when no other process uses the server and it runs with a smaller
	// shared_buffers than SharedBuffers (left by a killed command, which asks for little),
	// restart it with SharedBuffers rather than adopt it. For a long-running `dw serve`.
	RestartSmaller bool
}

// CommandSharedBuffers is the shared_buffers of the server a CLI command starts for itself: a
// command is short and stops its server at its end, so it needs little.
const CommandSharedBuffers = "32MB"

// DefaultSharedBuffers is the shared_buffers `dw serve` gives its embedded server: a quarter of
// the machine's memory (PostgreSQL's usual advice), between 128MB and 8GB.
func DefaultSharedBuffers() string {
	mb := 128
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mb = min(max(kb/1024/4, 128), 8192)
		}
	}
	return strconv.Itoa(mb) + "MB"
}

// Server is a running embedded PostgreSQL server.
type Server struct {
	dataDir  string
	pgDir    string
	binDir   string
	port     int
	password string
	log      *slog.Logger
	cred     *syscall.Credential // non-nil when the server runs as another user (we are root)
	adopted  bool

	mu      sync.Mutex
	stopped bool
	lease   *lease // nil once released or stopped
}

// FindBinaries returns the directory holding initdb, pg_ctl and postgres.
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		// Distributions often put symlinks on PATH (/usr/bin/initdb ->
		// ../lib/postgresql/15/bin/initdb): use the real directory.
		for _, dir := range []string{realDir(p), filepath.Dir(p)} {
			if dir != "" && isExecutable(filepath.Join(dir, "pg_ctl")) {
				if abs, err := filepath.Abs(dir); err == nil {
					dir = abs
				}
				return dir, nil
			}
		}
	}
	dirs, _ := filepath.Glob(BinaryGlob)
	type cand struct {
		dir string
		ver []int
	}
	var cands []cand
	for _, d := range dirs {
		if !isExecutable(filepath.Join(d, "initdb")) || !isExecutable(filepath.Join(d, "pg_ctl")) || !isExecutable(filepath.Join(d, "postgres")) {
			continue
		}
		cands = append(cands, cand{d, parseVersion(filepath.Base(filepath.Dir(d)))})
	}
	if len(cands) == 0 {
		return "", fmt.Errorf("pgserver: PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in %s: install the PostgreSQL server (Debian: apt-get install postgresql) or pass --database-url / DW_DATABASE_URL", BinaryGlob)
	}
	sort.Slice(cands, func(i, j int) bool { return versionLess(cands[j].ver, cands[i].ver) })
	return cands[0].dir, nil
}

func realDir(p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	return filepath.Dir(r)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

func parseVersion(s string) []int {
	var v []int
	for _, f := range strings.Split(s, ".") {
		n, err := strconv.Atoi(f)
		if err != nil {
			return v
		}
		v = append(v, n)
	}
	return v
}

func versionLess(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// Start initialises the cluster under o.DataDir if needed and makes sure the
// server runs: it adopts an already running server or starts it.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.DataDir == "" {
		return nil, errors.New("pgserver: Options.DataDir is empty")
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	s := &Server{
		dataDir: dataDir,
		pgDir:   filepath.Join(dataDir, pgDirName),
		log:     o.Logger,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "pgserver")

	l, exclusive, err := takeLease(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	s.lease = l
	if err := s.open(ctx, o, exclusive); err != nil {
		// Whatever this call started (pg_ctl may have forked the postmaster before ctx was
		// cancelled) is stopped unless another process uses it.
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if rerr := s.Release(stopCtx); rerr != nil {
			s.log.Warn("stopping PostgreSQL after a failed start", "err", rerr)
		}
		return nil, err
	}
	if exclusive {
		if err := l.share(); err != nil {
			_ = s.Release(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	return s, nil
}

// open adopts the running server or starts it; exclusive says that no other process uses it.
func (s *Server) open(ctx context.Context, o Options, exclusive bool) error {
	var err error
	// Fast path: a server from an earlier (maybe killed) process still runs.
	if _, ok := RunningURL(s.dataDir); ok {
		if err := s.loadState(); err != nil {
			return err
		}
		smaller := o.RestartSmaller && s.smallerBuffers(ctx, o.SharedBuffers)
		if !exclusive || !smaller {
			s.adopted = true
			s.log.Info("adopted running PostgreSQL", "data_dir", s.pgDir, "port", s.port)
			if smaller {
				s.log.Warn("PostgreSQL runs with a smaller shared_buffers than asked: another dw process (a command) started it and still uses it; restart this one once that is done",
					"data_dir", s.pgDir, "shared_buffers", o.SharedBuffers)
			}
			return s.ensureDatabase(ctx)
		}
		s.log.Info("restarting PostgreSQL left running with a smaller shared_buffers", "data_dir", s.pgDir, "shared_buffers", o.SharedBuffers)
		if err := s.stop(ctx); err != nil {
			return err
		}
		s.stopped = false
	}

	if s.binDir, err = FindBinaries(); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if s.cred, err = postgresCredential(); err != nil {
			return err
		}
	}
	if err := s.prepareDataDir(); err != nil {
		return err
	}
	initialized, err := s.initialized()
	if err != nil {
		return err
	}
	if !initialized {
		if err := s.initdb(ctx, o); err != nil {
			return err
		}
	}
	if err := s.loadState(); err != nil {
		return err
	}
	if err := s.start(ctx, o); err != nil {
		return err
	}
	return s.ensureDatabase(ctx)
}

// smallerBuffers reports whether the running server's shared_buffers is smaller than want.
func (s *Server) smallerBuffers(ctx context.Context, want string) bool {
	w, ok := sizeBytes(want)
	if !ok {
		return false
	}
	conn, err := pgx.Connect(ctx, s.urlFor("postgres"))
	if err != nil {
		return false
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var have int64
	if err := conn.QueryRow(ctx, "SELECT pg_size_bytes(current_setting('shared_buffers'))").Scan(&have); err != nil {
		return false
	}
	return have < w
}

// URL returns the connection URL of database dw.
func (s *Server) URL() string { return s.urlFor(Database) }

// Port returns the TCP port the server listens on (127.0.0.1).
func (s *Server) Port() int { return s.port }

// DataDir returns the PostgreSQL cluster directory (DataDir/postgres).
func (s *Server) DataDir() string { return s.pgDir }

// Adopted reports whether Start found the server already running.
func (s *Server) Adopted() bool { return s.adopted }

func (s *Server) urlFor(db string) string {
	return buildURL(s.port, s.password, db)
}

// URLFor returns the connection URL of another database on this server.
func (s *Server) URLFor(db string) string { return s.urlFor(db) }

func buildURL(port int, password, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(User, password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Stop shuts the server down (fast mode), whoever else uses it, waits for it and releases
// this process's lease. Idempotent.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.dropLease()
	return s.stop(ctx)
}

// Release lets go of the server: it stops it (as Stop) when no other process uses it, and
// leaves it running for the others otherwise (the last of them stops it). Idempotent.
func (s *Server) Release(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lease == nil {
		return nil
	}
	defer s.dropLease()
	if !s.lease.last() {
		s.log.Info("left PostgreSQL running for the other dw processes that use it", "data_dir", s.pgDir)
		return nil
	}
	return s.stop(ctx)
}

func (s *Server) dropLease() {
	if s.lease != nil {
		s.lease.close()
		s.lease = nil
	}
}

func (s *Server) stop(ctx context.Context) error {
	if s.stopped {
		return nil
	}
	if pid, _ := readPostmasterPID(s.pgDir); pid == 0 || !processAlive(pid) {
		s.stopped = true
		return nil
	}
	if s.binDir == "" {
		bin, err := FindBinaries()
		if err != nil {
			return err
		}
		s.binDir = bin
	}
	if s.cred == nil && os.Geteuid() == 0 {
		cred, err := postgresCredential()
		if err != nil {
			return err
		}
		s.cred = cred
	}
	out, err := s.run(ctx, "pg_ctl", "stop", "-D", s.pgDir, "-m", "fast", "-w", "-t", "60")
	if err != nil {
		if pid, _ := readPostmasterPID(s.pgDir); pid == 0 || !processAlive(pid) {
			s.stopped = true
			return nil
		}
		return fmt.Errorf("pgserver: pg_ctl stop: %w: %s", err, bytes.TrimSpace(out))
	}
	s.stopped = true
	s.log.Info("stopped PostgreSQL", "data_dir", s.pgDir)
	return nil
}

// RunningURL returns the URL of the server whose cluster lives under dataDir
// if it is running and accepting connections.
func RunningURL(dataDir string) (string, bool) {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return "", false
	}
	pgDir := filepath.Join(dataDir, pgDirName)
	pid, err := readPostmasterPID(pgDir)
	if err != nil || pid == 0 || !processAlive(pid) {
		return "", false
	}
	pw, err := readPassword(dataDir)
	if err != nil {
		return "", false
	}
	port, err := readPort(pgDir)
	if err != nil {
		return "", false
	}
	u := buildURL(port, pw, Database)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// The dw database may not exist yet (crash right after initdb); the
	// postgres database always does.
	if ping(ctx, buildURL(port, pw, "postgres")) != nil {
		return "", false
	}
	return u, true
}

func ping(ctx context.Context, u string) error {
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = 2 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(ctx)
}

// --- data directory and state ---------------------------------------------

func (s *Server) prepareDataDir() error {
	mode := os.FileMode(0o700)
	if s.cred != nil {
		mode = 0o711 // the postgres user must be able to traverse it
	}
	if err := os.MkdirAll(s.dataDir, mode); err != nil {
		return fmt.Errorf("pgserver: create data dir: %w", err)
	}
	if s.cred != nil {
		if err := checkTraversable(s.dataDir, s.cred.Uid); err != nil {
			return err
		}
	}
	return nil
}

// checkTraversable makes sure uid can reach dir: every directory from / to
// dir must be searchable by uid (owner, or o+x; group is checked as well).
func checkTraversable(dir string, uid uint32) error {
	u, err := user.LookupId(strconv.Itoa(int(uid)))
	var gids []uint32
	if err == nil {
		if gs, err := u.GroupIds(); err == nil {
			for _, g := range gs {
				if n, err := strconv.Atoi(g); err == nil {
					gids = append(gids, uint32(n))
				}
			}
		}
	}
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgserver: %w", err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		perm := st.Mode().Perm()
		searchable := perm&0o001 != 0
		if ok && !searchable {
			switch {
			case sys.Uid == uid:
				searchable = perm&0o100 != 0
			case containsGID(gids, sys.Gid):
				searchable = perm&0o010 != 0
			}
		}
		if !searchable {
			return fmt.Errorf("pgserver: running as root, PostgreSQL runs as the %q user, which cannot enter directory %s (mode %v): choose another --data-dir whose parent directories are world-searchable (e.g. /var/lib/dw), or chmod o+x %s", "postgres", d, perm, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func containsGID(gids []uint32, g uint32) bool {
	for _, x := range gids {
		if x == g {
			return true
		}
	}
	return false
}

func (s *Server) initialized() (bool, error) {
	_, err := os.Stat(filepath.Join(s.pgDir, "PG_VERSION"))
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("pgserver: %w", err)
	}
	return false, nil
}

func (s *Server) loadState() error {
	pw, err := readPassword(s.dataDir)
	if err != nil {
		return fmt.Errorf("pgserver: read password (%s): %w", filepath.Join(s.dataDir, passwordFile), err)
	}
	port, err := readPort(s.pgDir)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	s.password, s.port = pw, port
	return nil
}

func readPassword(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, passwordFile))
	if err != nil {
		return "", err
	}
	pw := strings.TrimSpace(string(b))
	if pw == "" {
		return "", errors.New("empty password file")
	}
	return pw, nil
}

// readPort reads the port from postgresql.auto.conf (the last setting wins).
func readPort(pgDir string) (int, error) {
	f, err := os.Open(filepath.Join(pgDir, "postgresql.auto.conf"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	port := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != "port" {
			continue
		}
		v = strings.TrimSpace(v)
		if i := strings.IndexByte(v, '#'); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		v = strings.Trim(v, "'")
		if n, err := strconv.Atoi(v); err == nil {
			port = n
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if port == 0 {
		return 0, fmt.Errorf("no port setting in %s", f.Name())
	}
	return port, nil
}

func readPostmasterPID(pgDir string) (int, error) {
	return readPIDFile(filepath.Join(pgDir, "postmaster.pid"))
}

func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad postmaster.pid")
	}
	return pid, nil
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return !isZombie(pid)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] == 'Z' || b[i+2] == 'X'
}

// --- initdb -----------------------------------------------------------------

func (s *Server) initdb(ctx context.Context, o Options) error {
	// A half-done earlier initdb leaves a non-empty dir without PG_VERSION.
	if err := os.RemoveAll(s.pgDir); err != nil {
		return fmt.Errorf("pgserver: clean %s: %w", s.pgDir, err)
	}
	if err := os.Mkdir(s.pgDir, 0o700); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	if err := s.chown(s.pgDir); err != nil {
		return err
	}

	pwPath := filepath.Join(s.dataDir, passwordFile)
	pw, err := readPassword(s.dataDir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pgserver: read %s: %w", pwPath, err)
		}
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("pgserver: generate password: %w", err)
		}
		pw = hex.EncodeToString(b[:])
		if err := writeFileAtomic(pwPath, []byte(pw+"\n"), 0o600); err != nil {
			return fmt.Errorf("pgserver: write password file: %w", err)
		}
	}

	// initdb must be able to read the pwfile as the user it runs as; give it
	// a private copy that is removed right after.
	pwCopy := filepath.Join(s.dataDir, ".initdb-pwfile")
	if err := os.WriteFile(pwCopy, []byte(pw+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	defer os.Remove(pwCopy)
	if err := s.chown(pwCopy); err != nil {
		return err
	}

	args := []string{"-D", s.pgDir, "-U", User, "--pwfile", pwCopy,
		"--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C"}
	if o.NoFsync {
		args = append(args, "--no-sync")
	}
	s.log.Info("initializing PostgreSQL cluster", "data_dir", s.pgDir, "bin_dir", s.binDir)
	if out, err := s.run(ctx, "initdb", args...); err != nil {
		return fmt.Errorf("pgserver: initdb: %w: %s", err, tail(out, 2000))
	}

	port := o.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return fmt.Errorf("pgserver: choose port: %w", err)
		}
	}
	sock := s.pgDir
	if len(filepath.Join(s.pgDir, ".s.PGSQL."+strconv.Itoa(port))) >= maxSocketPath {
		sock = ""
	}
	var conf strings.Builder
	conf.WriteString("\n# written by dw (persistence/pgserver)\n")
	fmt.Fprintf(&conf, "listen_addresses = '127.0.0.1'\n")
	fmt.Fprintf(&conf, "port = %d\n", port)
	fmt.Fprintf(&conf, "unix_socket_directories = %s\n", quoteConf(sock))
	fmt.Fprintf(&conf, "max_connections = 200\n")
	fmt.Fprintf(&conf, "shared_buffers = '128MB'\n")
	if o.NoFsync {
		conf.WriteString("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
	}
	f, err := os.OpenFile(filepath.Join(s.pgDir, "postgresql.auto.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	if _, err := f.WriteString(conf.String()); err != nil {
		f.Close()
		return fmt.Errorf("pgserver: write postgresql.auto.conf: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pgserver: write postgresql.auto.conf: %w", err)
	}
	return nil
}

func quoteConf(v string) string {
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// --- start ------------------------------------------------------------------

func (s *Server) start(ctx context.Context, o Options) error {
	logPath := filepath.Join(s.dataDir, logFile)
	// pg_ctl opens the log file as the server user; create it ourselves so
	// that this also works when DataDir is not writable by that user.
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	lf.Close()
	if err := s.chown(logPath); err != nil {
		return err
	}
	if s.cred != nil {
		// A cluster created by an earlier run as another user must belong
		// to the server user.
		if st, err := os.Stat(s.pgDir); err == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != s.cred.Uid {
				if err := s.chown(s.pgDir); err != nil {
					return err
				}
			}
		}
	}

	var opts []string
	if o.NoFsync {
		opts = append(opts, "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
	}
	if o.SharedBuffers != "" {
		if !validSize(o.SharedBuffers) {
			return fmt.Errorf("pgserver: shared_buffers %q is not a size like 512MB or 2GB", o.SharedBuffers)
		}
		opts = append(opts, "-c shared_buffers="+o.SharedBuffers)
	}

	admin := s.urlFor("postgres")
	var lastErr error
	attempt := 0
	for {
		if ctx.Err() != nil {
			if lastErr == nil {
				lastErr = ctx.Err()
			}
			return fmt.Errorf("pgserver: server did not come up: %w", lastErr)
		}
		if pid, err := readPostmasterPID(s.pgDir); err == nil {
			switch {
			case processAlive(pid) && isPostgresProcess(pid):
				// A server runs (maybe still starting or recovering, or
				// shutting down): wait until it accepts connections or exits.
				err := ping(ctx, admin)
				if err == nil {
					s.adopted = true
					s.log.Info("adopted running PostgreSQL", "data_dir", s.pgDir, "port", s.port, "pid", pid)
					return nil
				}
				lastErr = err
				sleep(ctx, 100*time.Millisecond)
				continue
			case isZombie(pid) || processAlive(pid):
				// The old postmaster died but was not reaped (postgres would
				// take the zombie for a live server), or its pid was reused
				// by an unrelated process: the lock file is stale.
				s.log.Warn("removing stale postmaster.pid", "pid", pid)
				_ = os.Remove(filepath.Join(s.pgDir, "postmaster.pid"))
				s.removeStaleSocketLocks(pid)
			}
		}
		args := []string{"start", "-w", "-t", "60", "-D", s.pgDir, "-l", logPath}
		if len(opts) > 0 {
			args = append(args, "-o", strings.Join(opts, " "))
		}
		startMark := fileSize(logPath)
		out, err := s.run(ctx, "pg_ctl", args...)
		if err == nil {
			break
		}
		lastErr = fmt.Errorf("pg_ctl start: %w: %s\nserver log:\n%s", err, bytes.TrimSpace(out), readFrom(logPath, startMark, 4000))
		// Leftovers of a crashed server (backends still attached to shared
		// memory) go away by themselves within moments: retry a few times.
		attempt++
		if attempt > 5 {
			return fmt.Errorf("pgserver: %w", lastErr)
		}
		s.log.Warn("PostgreSQL did not start, retrying", "attempt", attempt, "err", lastErr)
		sleep(ctx, time.Duration(attempt)*300*time.Millisecond)
	}

	// pg_ctl -w waits for the postmaster to report ready; make sure we can
	// really connect with our credentials.
	for {
		err := ping(ctx, admin)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("pgserver: server started but does not accept connections: %w", err)
		}
		sleep(ctx, 50*time.Millisecond)
	}
	s.log.Info("started PostgreSQL", "data_dir", s.pgDir, "port", s.port, "log", logPath)
	return nil
}

func (s *Server) ensureDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.urlFor("postgres"))
	if err != nil {
		return fmt.Errorf("pgserver: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", Database).Scan(&exists); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{Database}.Sanitize()); err != nil {
		return fmt.Errorf("pgserver: create database %s: %w", Database, err)
	}
	return nil
}

// --- processes and users ----------------------------------------------------

func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgserver: running as root, so PostgreSQL must run as the \"postgres\" user, but it does not exist (%v): create it or run dw as a normal user", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgserver: postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgserver: postgres gid %q: %w", u.Gid, err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if gs, err := u.GroupIds(); err == nil {
		for _, g := range gs {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, nil
}

// chown gives path (recursively) to the server user when we run as root.
func (s *Server) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	uid, gid := int(s.cred.Uid), int(s.cred.Gid)
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("pgserver: chown %s to postgres: %w", path, err)
	}
	return nil
}

// run executes a PostgreSQL binary as the server user, in its own process
// group, and returns its combined output.
func (s *Server) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, name), args...)
	cmd.Dir = s.pgDir
	if _, err := os.Stat(cmd.Dir); err != nil {
		cmd.Dir = "/"
	}
	cmd.Env = serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// pg_ctl start forks the postmaster, which inherits stdout/stderr unless
	// redirected (-l); WaitDelay guards against a child keeping pipes open.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

// serverEnv is our environment without libpq/PG variables that could
// redirect pg_ctl or initdb, with a locale that always exists.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LANG=C", "LC_ALL=C")
}

// removeStaleSocketLocks removes the unix socket lock files (and sockets)
// in the cluster dir that belong to the dead postmaster pid; postgres checks
// them like postmaster.pid and would refuse to start because of a zombie.
func (s *Server) removeStaleSocketLocks(pid int) {
	locks, _ := filepath.Glob(filepath.Join(s.pgDir, ".s.PGSQL.*.lock"))
	for _, l := range locks {
		if p, err := readPIDFile(l); err == nil && p == pid {
			_ = os.Remove(l)
			_ = os.Remove(strings.TrimSuffix(l, ".lock"))
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// isPostgresProcess reports whether pid looks like a PostgreSQL server
// process (guards against a recycled pid in a stale postmaster.pid).
func isPostgresProcess(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return true // no /proc: assume it is
	}
	return bytes.Contains(b, []byte("postgres")) || bytes.Contains(b, []byte("postmaster"))
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

func readFrom(p string, off int64, max int) string {
	b, err := os.ReadFile(p)
	if err != nil || off > int64(len(b)) {
		return ""
	}
	return tail(b[off:], max)
}

func tail(b []byte, max int) string {
	b = bytes.TrimSpace(b)
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// validSize reports whether s is a PostgreSQL memory size: digits and kB, MB, GB or TB.
func validSize(s string) bool {
	_, ok := sizeBytes(s)
	return ok
}

// sizeBytes is the number of bytes of a PostgreSQL memory size (see validSize).
func sizeBytes(s string) (int64, bool) {
	for i, unit := range []string{"kB", "MB", "GB", "TB"} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil || v <= 0 || v > 1<<30 {
				return 0, false
			}
			return v << (10 * (i + 1)), true
		}
	}
	return 0, false
}
