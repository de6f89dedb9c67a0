package persistence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/divinewhispers/dw/accounting"
)

// IngestSource is accounting.Source.
type IngestSource = accounting.Source

const sourceColumns = `id, name, dir, glob, format, cluster, interval_seconds, timezone, enabled, created_at, columns`

func scanSource(row pgx.Row) (IngestSource, error) {
	var src IngestSource
	var secs int
	err := row.Scan(&src.ID, &src.Name, &src.Dir, &src.Glob, &src.Format, &src.Cluster, &secs, &src.Timezone, &src.Enabled, &src.CreatedAt, &src.Columns)
	src.Interval = time.Duration(secs) * time.Second
	return src, err
}

// CreateSource stores a new source without an audit row (tests, benchmarks); see AddSource.
func (s *Store) CreateSource(ctx context.Context, src IngestSource) (IngestSource, error) {
	return s.AddSource(ctx, src, AuditEntry{})
}

// Sources lists every source by name.
func (s *Store) Sources(ctx context.Context) ([]IngestSource, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sourceColumns+` FROM ingest_sources ORDER BY name`)
	if err != nil {
		return nil, mapError(err, "ingest source")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (IngestSource, error) { return scanSource(r) })
	return out, mapError(err, "ingest source")
}

// SourceByName returns one source. Errors: not_found.
func (s *Store) SourceByName(ctx context.Context, name string) (IngestSource, error) {
	src, err := scanSource(s.pool.QueryRow(ctx, `SELECT `+sourceColumns+` FROM ingest_sources WHERE name = $1`, name))
	if err != nil {
		return IngestSource{}, mapError(err, "ingest source "+name)
	}
	return src, nil
}

// Processed-file statuses.
const (
	FileDone    = "done"    // read to its end
	FilePartial = "partial" // read up to Offset; a last line without its newline is left for later
	FileFailed  = "failed"  // could not be read; see the source's ingest errors
)

// ProcessedFile is accounting.ProcessedFile.
type ProcessedFile = accounting.ProcessedFile

const fileColumns = `source_id, path, size, mtime, sha256, prefix_sha256, "offset", lines, columns, gzip, records, errors, status, updated_at, cluster_mismatches`

// ProcessedFiles returns every file row of a source, by path.
func (s *Store) ProcessedFiles(ctx context.Context, sourceID string) (map[string]ProcessedFile, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+fileColumns+` FROM processed_files WHERE source_id = $1`, sourceID)
	if err != nil {
		return nil, mapError(err, "processed file")
	}
	files, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ProcessedFile, error) {
		var f ProcessedFile
		err := r.Scan(&f.SourceID, &f.Path, &f.Size, &f.MTime, &f.SHA256, &f.PrefixSHA256, &f.Offset, &f.Lines, &f.Columns,
			&f.Gzip, &f.Records, &f.Errors, &f.Status, &f.UpdatedAt, &f.ClusterMismatches)
		return f, err
	})
	if err != nil {
		return nil, mapError(err, "processed file")
	}
	out := make(map[string]ProcessedFile, len(files))
	for _, f := range files {
		out[f.Path] = f
	}
	return out, nil
}

// FileResult is what one read of one file yields, stored in one transaction by SaveFile.
type FileResult struct {
	File    ProcessedFile
	Records []accounting.Record
	Errors  []accounting.LineError // File and Line name the place
	// Reset drops the file's earlier ingest errors: it was read again from its start.
	Reset bool
}

// Saved says what SaveFile stored.
type Saved struct {
	Added int64 // records not stored before
	// Replaced counts stored records replaced by one that wins over them (accounting.Wins):
	// their usage, rollups and charges were corrected.
	Replaced int64
	Charges  int          // usage charges created (one per wallet)
	Touched  []WalletSpan // wallets that got new usage
	Events   []QuotaEvent // quota thresholds crossed by it
	users    [][2]string  // cluster users recorded (known to the store once committed)
}

// WalletSpan is accounting.WalletSpan.
type WalletSpan = accounting.WalletSpan

// SaveFile stores a file's new usage records (a job already stored, from this file or any
// other, is kept unless a record of the file wins over it under the same-key rule,
// accounting.Wins: then it is replaced and its usage corrected), their rollups, one charge per
// wallet for them (and a correcting charge per wallet for replaced records), its line errors and
// its processed_files row, all in one transaction: a file is recorded only with everything read
// from it, a job is charged exactly when it is first stored, and a replacement is charged (or
// refunded) the difference exactly when it is made.
func (s *Store) SaveFile(ctx context.Context, fr FileResult, now time.Time) (Saved, error) {
	var saved Saved
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		f := fr.File
		if len(fr.Records) > 0 {
			var err error
			saved, err = s.insertUsage(ctx, tx, f.SourceID, "file "+f.Path, fr.Records, now)
			if err != nil {
				return err
			}
			if saved.Events, err = checkQuotas(ctx, tx, saved.Touched, now); err != nil {
				return err
			}
		}
		if fr.Reset {
			if _, err := tx.Exec(ctx, `DELETE FROM ingest_errors WHERE source_id = $1 AND file = $2`, f.SourceID, f.Path); err != nil {
				return err
			}
		}
		if len(fr.Errors) > 0 {
			rows := make([][]any, len(fr.Errors))
			for i, e := range fr.Errors {
				file := e.File
				if file == "" {
					file = f.Path
				}
				rows[i] = []any{f.SourceID, validText(file), e.Line, validText(e.Err), now}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ingest_errors"}, []string{"source_id", "file", "line", "message", "created_at"},
				pgx.CopyFromRows(rows)); err != nil {
				return err
			}
		}
		return upsertFile(ctx, tx, f, now)
	})
	if err != nil {
		return Saved{}, mapError(err, "usage records")
	}
	for _, u := range saved.users {
		s.seenUsers.Store(u, true)
	}
	return saved, nil
}

// SaveFileState records a file without reading records from it: a renamed or copied file, a
// file touched without change, or one that could not be read (with its error).
func (s *Store) SaveFileState(ctx context.Context, f ProcessedFile, failure string, now time.Time) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if failure != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO ingest_errors (source_id, file, line, message, created_at) VALUES ($1, $2, 0, $3, $4)`,
				f.SourceID, f.Path, failure, now); err != nil {
				return err
			}
		}
		return upsertFile(ctx, tx, f, now)
	}), "processed file")
}

func upsertFile(ctx context.Context, tx pgx.Tx, f ProcessedFile, now time.Time) error {
	if f.Columns == nil {
		f.Columns = []string{}
	}
	if f.SHA256 == nil {
		f.SHA256 = []byte{}
	}
	if f.PrefixSHA256 == nil {
		f.PrefixSHA256 = []byte{}
	}
	_, err := tx.Exec(ctx, `INSERT INTO processed_files (`+fileColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (source_id, path) DO UPDATE SET size = $3, mtime = $4, sha256 = $5, prefix_sha256 = $6,
			"offset" = $7, lines = $8, columns = $9, gzip = $10, records = $11, errors = $12, status = $13, updated_at = $14,
			cluster_mismatches = $15`,
		f.SourceID, f.Path, f.Size, f.MTime, f.SHA256, f.PrefixSHA256, f.Offset, f.Lines, f.Columns, f.Gzip,
		f.Records, f.Errors, f.Status, now, f.ClusterMismatches)
	return err
}

var usageColumns = []string{"key", "cluster", "job_id", "user_name", "group_name", "account", "partition", "qos", "state",
	"exit_code", "nodes", "cpus", "gpus", "elapsed_ms", "submit_at", "start_at", "end_at", "node_seconds",
	"gpu_seconds", "source_id", "file", "line", "ingested_at", "wallet_id", "mapping_id", "charge_units", "charged",
	"file_cluster", "content_hash"}

// insertUsage stores the records whose key is new and replaces the stored records they win
// over (the same-key rule, accounting.Wins), with the wallet the mapping rules give them and
// their price; it adds the new records to the rollups and takes replaced ones out (old out,
// new in, exactly), creates one charge per wallet for the new records and one correcting
// charge per wallet for the replacements (negative: a refund), and records the cluster users
// seen. It holds the rules lock shared, so a mapping added meanwhile either sees these records
// (and charges them) or is seen by them.
//
// The records are copied straight into usage_records (the fast path: no job of the file was
// stored before); when one was, the copy fails on the unique key, is rolled back to a savepoint,
// and the records (one per key, the winner) go through a temporary table: INSERT … ON CONFLICT
// DO NOTHING says which keys were new; the stored rows of the others are then locked (FOR
// UPDATE, a statement after the insert, so it sees a row a concurrent store committed
// meanwhile) and compared under the rule, and those that lose are replaced in place. Rollups,
// charges and cluster users are then summed here, from what changed only, and written as a few
// thousand rows at most.
func (s *Store) insertUsage(ctx context.Context, tx pgx.Tx, sourceID, origin string, recs []accounting.Record, now time.Time) (Saved, error) {
	var saved Saved
	rules, rates, err := loadRules(ctx, tx, false)
	if err != nil {
		return saved, err
	}
	var src *[16]byte
	if id, err := uuid.Parse(sourceID); err == nil {
		src = (*[16]byte)(&id)
	}
	ids := uuidCache{}
	rows := make([]usageRow, len(recs))
	for i := range recs {
		r := &recs[i]
		for _, f := range [...]*string{&r.Cluster, &r.FileCluster, &r.JobID, &r.User, &r.Group, &r.Account, &r.Partition, &r.QOS, &r.State, &r.ExitCode, &r.File} {
			*f = validText(*f)
		}
		u := &rows[i]
		u.key, u.price, u.hash = r.Key(), rates.Price(r), r.ContentHash()
		if m, ok := rules.Resolve(r.Cluster, r.User, r.Account, r.Group); ok {
			u.mapping = ids.get(m.ID)
			if m.WalletID != "" {
				u.walletID, u.wallet = m.WalletID, ids.get(m.WalletID)
			}
		}
	}
	// encode writes the records idx (all when nil) as COPY data, with their position as a last
	// column when ord.
	encode := func(idx []int, ord bool) []byte {
		fields := len(usageColumns)
		if ord {
			fields++
		}
		c := newCopyBuf(len(recs), 440)
		one := func(i int) {
			r, u := &recs[i], &rows[i]
			c.row(fields)
			for _, s := range [...]string{u.key, r.Cluster, r.JobID, r.User, r.Group, r.Account, r.Partition, r.QOS, r.State, r.ExitCode} {
				c.text(s)
			}
			c.int4(r.Nodes)
			c.int4(r.CPUs)
			c.int4(r.GPUs)
			c.int8(r.Elapsed.Milliseconds())
			c.timestamptz(r.Submit)
			c.timestamptz(r.Start)
			c.timestamptz(r.End)
			c.int8(r.NodeSeconds())
			c.int8(r.GPUSeconds())
			c.uuid(src)
			c.text(r.File)
			c.int4(r.Line)
			c.timestamptz(now)
			c.uuid(u.wallet)
			c.uuid(u.mapping)
			c.int8(u.price)
			c.boolean(u.wallet != nil)
			c.text(r.FileCluster)
			c.bytea(u.hash[:])
			if ord {
				c.int4(i)
			}
		}
		if idx == nil {
			for i := range recs {
				one(i)
			}
		} else {
			for _, i := range idx {
				one(i)
			}
		}
		return c.bytes()
	}

	// Sum the records as if all were new while PostgreSQL stores them; almost always they are.
	optimistic := make(chan *usageSums, 1)
	go func() {
		items := make([]usageItem, len(recs))
		for i := range recs {
			items[i] = newItem(&recs[i], &rows[i], now)
		}
		optimistic <- sumItems(items)
	}()
	sums := func() *usageSums { return <-optimistic }
	sp, err := tx.Begin(ctx) // a savepoint
	if err != nil {
		sums()
		return saved, err
	}
	_, err = sp.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(encode(nil, false)),
		`COPY usage_records (`+strings.Join(usageColumns, ", ")+`) FROM STDIN (FORMAT binary)`)
	switch {
	case err == nil:
		if err := sp.Commit(ctx); err != nil {
			sums()
			return saved, err
		}
		return sums().write(ctx, s, tx, origin, now)
	case isUniqueViolation(err, ""):
		sums() // some were stored before, or a key is repeated: sum again, what changed only
		if err := sp.Rollback(ctx); err != nil {
			return saved, err
		}
		items, err := upsertUsage(ctx, tx, recs, rows, encode, now)
		if err != nil {
			return saved, err
		}
		return sumItems(items).write(ctx, s, tx, origin, now)
	default:
		sums()
		_ = sp.Rollback(ctx)
		return saved, err
	}
}

// usageRow is what insertUsage computed for one record.
type usageRow struct {
	key             string
	price           int64 // price units (accounting.PriceUnitsPerPoint)
	hash            [32]byte
	walletID        string
	wallet, mapping *[16]byte // nil: none
}

// uuidCache parses each id once.
type uuidCache map[string]*[16]byte

func (c uuidCache) get(id string) *[16]byte {
	if v, ok := c[id]; ok {
		return v
	}
	var v *[16]byte
	if u, err := uuid.Parse(id); err == nil {
		v = (*[16]byte)(&u)
	}
	c[id] = v
	return v
}

// upsertUsage stores, of each key among the records, the one that wins (accounting.Wins):
// inserted when the key is new, in place of the stored record when it wins over it, not at all
// when the stored one wins or is the same. It returns what changed as items to sum: +1 for a
// record stored, -1 for the record it replaced (its stored values, read under a row lock).
func upsertUsage(ctx context.Context, tx pgx.Tx, recs []accounting.Record, rows []usageRow, encode func([]int, bool) []byte, now time.Time) ([]usageItem, error) {
	// One per key: the winner among the records.
	best := make(map[string]int, len(recs))
	var cand []int
	for i := range recs {
		j, ok := best[rows[i].key]
		if !ok {
			best[rows[i].key] = len(cand)
			cand = append(cand, i)
			continue
		}
		if wins(&recs[i], &rows[i], &recs[cand[j]], &rows[cand[j]]) {
			cand[j] = i
		}
	}
	sort.Ints(cand)
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS usage_import
		(LIKE usage_records INCLUDING DEFAULTS, ord int) ON COMMIT DELETE ROWS`); err != nil {
		return nil, err
	}
	list := strings.Join(usageColumns, ", ")
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(encode(cand, true)), `COPY usage_import (`+list+`, ord) FROM STDIN (FORMAT binary)`); err != nil {
		return nil, err
	}
	added, err := collectKeys(tx.Query(ctx, `INSERT INTO usage_records (`+list+`) SELECT `+list+` FROM usage_import ORDER BY key
		ON CONFLICT (key) DO NOTHING RETURNING key`))
	if err != nil {
		return nil, err
	}
	var items []usageItem
	var stored []string
	for _, i := range cand {
		if added[rows[i].key] {
			items = append(items, newItem(&recs[i], &rows[i], now))
		} else {
			stored = append(stored, rows[i].key)
		}
	}
	if len(stored) > 0 {
		// Locked in key order, as every writer does, and read by a statement that begins after
		// the insert: a row a concurrent store committed meanwhile is seen, and stays as read.
		q, err := tx.Query(ctx, `SELECT key, end_at, start_at, content_hash, COALESCE(end_at, start_at, ingested_at),
				gpus, node_seconds, gpu_seconds, charge_units, COALESCE(wallet_id::text, ''), mapping_id IS NOT NULL,
				user_name, group_name, account, partition, cluster
			FROM usage_records WHERE key = ANY($1) ORDER BY key FOR UPDATE`, stored)
		if err != nil {
			return nil, err
		}
		olds := map[string]usageItem{}
		type version struct {
			end, start *time.Time
			hash       []byte
		}
		vers := map[string]version{}
		for q.Next() {
			var it usageItem
			var v version
			var key string
			var mapped bool
			if err := q.Scan(&key, &v.end, &v.start, &v.hash, &it.at, &it.gpus, &it.node, &it.gpu, &it.price, &it.walletID, &mapped,
				&it.user, &it.group, &it.account, &it.partition, &it.cluster); err != nil {
				q.Close()
				return nil, err
			}
			it.sign, it.walletKey = -1, walletKey(it.walletID, mapped)
			olds[key], vers[key] = it, v
		}
		q.Close()
		if err := q.Err(); err != nil {
			return nil, err
		}
		var replace []int32
		for _, i := range cand {
			old, ok := olds[rows[i].key]
			if !ok {
				continue
			}
			v, r := vers[rows[i].key], &recs[i]
			if accounting.CompareVersions(r.End, r.Start, rows[i].hash[:], timeOrZero(v.end), timeOrZero(v.start), v.hash) <= 0 {
				continue // the stored record wins, or is the same
			}
			replace = append(replace, int32(i))
			nw := newItem(r, &rows[i], now)
			nw.correction, old.correction = true, true
			nw.change = rows[i].key + "\x00" + hex.EncodeToString(v.hash) + "\x00" + hex.EncodeToString(rows[i].hash[:])
			old.change = nw.change
			old.counts = old.walletID != nw.walletID
			items = append(items, nw, old)
		}
		if len(replace) > 0 {
			set := make([]string, 0, len(usageColumns))
			for _, c := range usageColumns[1:] {
				set = append(set, c+" = i."+c)
			}
			if _, err := tx.Exec(ctx, `UPDATE usage_records u SET `+strings.Join(set, ", ")+`
				FROM usage_import i WHERE u.key = i.key AND i.ord = ANY($1::int[])`, replace); err != nil {
				return nil, err
			}
		}
	}
	_, err = tx.Exec(ctx, `TRUNCATE usage_import`)
	return items, err
}

// wins reports whether record a wins over record b (the same key) under accounting.Wins, with
// their hashes computed once.
func wins(a *accounting.Record, ar *usageRow, b *accounting.Record, br *usageRow) bool {
	return accounting.CompareVersions(a.End, a.Start, ar.hash[:], b.End, b.Start, br.hash[:]) > 0
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// collectKeys reads a column of keys into a set.
func collectKeys(q pgx.Rows, err error) (map[string]bool, error) {
	if err != nil {
		return nil, err
	}
	defer q.Close()
	out := map[string]bool{}
	for q.Next() {
		var k string
		if err := q.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, q.Err()
}

// walletKey is a record's key in the wallet dimension (see walletKeySQL).
func walletKey(walletID string, mapped bool) string {
	if walletID == "" && mapped {
		return "excluded"
	}
	return walletID
}

// usageItem is one record's part in the sums: +1 for a record stored, -1 for one replaced.
type usageItem struct {
	sign                                     int64
	at                                       time.Time // the job's end (or start, or when it was stored)
	gpus                                     int
	node, gpu, price                         int64
	walletID, walletKey                      string
	user, group, account, partition, cluster string
	correction                               bool   // part of a replacement: charged by a correcting charge
	change                                   string // a replacement: record key, old and new content hash
	counts                                   bool   // a replaced record counted in its wallet's correcting charge
}

func newItem(r *accounting.Record, u *usageRow, now time.Time) usageItem {
	at := r.End
	if at.IsZero() {
		at = r.Start
	}
	if at.IsZero() {
		at = now
	}
	return usageItem{sign: 1, at: at, gpus: r.GPUs, node: r.NodeSeconds(), gpu: r.GPUSeconds(), price: u.price,
		walletID: u.walletID, walletKey: walletKey(u.walletID, u.mapping != nil),
		user: r.User, group: r.Group, account: r.Account, partition: r.Partition, cluster: r.Cluster, counts: true}
}

// correctionKey is the key of a wallet's correcting charge: the SHA-256 of the wallet and the
// replacements it corrects (record key, old and new content hash), sorted; "" for a charge of
// new records.
func correctionKey(wallet string, changes []string) string {
	if len(changes) == 0 {
		return ""
	}
	sort.Strings(changes)
	h := sha256.New()
	h.Write([]byte(wallet))
	for _, c := range changes {
		h.Write([]byte{0xff})
		h.Write([]byte(c))
	}
	return "usage-correction:" + hex.EncodeToString(h.Sum(nil))
}

// rollupSum is a sum of jobs: node-seconds, GPU-seconds and price units, exact.
type rollupSum struct{ jobs, gpuJobs, node, gpu, price int64 }

func (a *rollupSum) add(b rollupSum) {
	a.jobs += b.jobs
	a.gpuJobs += b.gpuJobs
	a.node += b.node
	a.gpu += b.gpu
	a.price += b.price
}

// rollupDims are the dimensions of usage_rollups, in the order sumItems keys them.
var rollupDims = [...]string{"all", "wallet", "user", "group", "account", "partition", "cluster"}

// dayKey is a dimension's value on one UTC day (days since 1970-01-01).
type dayKey struct {
	key string
	day int32
}

// usageSums is what a file's stored records change: rollup rows, one charge per wallet (and
// one correcting charge per wallet for replaced records), cluster users. Summing is plain Go,
// done while PostgreSQL stores the records.
type usageSums struct {
	added, replaced int64
	touched         []WalletSpan
	// rollup rows
	dims, grains, keys              []string
	buckets                         []time.Time
	jobs, gpuJobs, node, gpu, price []int64
	// charges
	wallets                      []string
	corrections                  []bool
	correctionKeys               []string // "" for a charge of new records
	points, records, cnode, cgpu []int64
	users                        [][2]string // cluster, login
}

// sumItems sums what changed: each item adds (sign +1) or takes out (sign -1) one record.
func sumItems(items []usageItem) *usageSums {
	a := &usageSums{}
	var days [len(rollupDims)]map[dayKey]*rollupSum
	for d := range days {
		days[d] = map[dayKey]*rollupSum{}
	}
	type chargeKey struct {
		wallet     string
		correction bool
	}
	type charge struct {
		rollupSum
		records int64
		changes []string // of a correcting charge: the replacements it corrects
	}
	charges := map[chargeKey]*charge{}
	spans := map[string]*WalletSpan{}
	users := map[[2]string]bool{}
	for i := range items {
		it := &items[i]
		switch {
		case it.sign > 0 && !it.correction:
			a.added++
		case it.sign > 0:
			a.replaced++
		}
		sum := rollupSum{jobs: it.sign, node: it.sign * it.node, gpu: it.sign * it.gpu, price: it.sign * it.price}
		if it.gpus > 0 {
			sum.gpuJobs = it.sign
		}
		at := it.at
		day := int32(at.Unix() / 86400)
		if at.Unix() < 0 && at.Unix()%86400 != 0 {
			day-- // floor, for times before 1970
		}
		for d, key := range [...]string{"", it.walletKey, it.user, it.group, it.account, it.partition, it.cluster} {
			k := dayKey{key, day}
			if t := days[d][k]; t != nil {
				t.add(sum)
			} else {
				v := sum
				days[d][k] = &v
			}
		}
		if it.walletID != "" {
			ck := chargeKey{it.walletID, it.correction}
			ch := charges[ck]
			if ch == nil {
				ch = &charge{}
				charges[ck] = ch
			}
			ch.add(sum)
			if it.counts {
				ch.records++
			}
			if it.change != "" && (len(ch.changes) == 0 || ch.changes[len(ch.changes)-1] != it.change) {
				ch.changes = append(ch.changes, it.change)
			}
			sp := spans[it.walletID]
			if sp == nil {
				spans[it.walletID] = &WalletSpan{WalletID: it.walletID, From: at, To: at}
			} else {
				if at.Before(sp.From) {
					sp.From = at
				}
				if at.After(sp.To) {
					sp.To = at
				}
			}
		}
		if it.sign > 0 && it.user != "" {
			users[[2]string{it.cluster, it.user}] = true
		}
	}
	emit := func(dim, grain string, bucket time.Time, key string, s *rollupSum) {
		a.dims, a.grains, a.buckets, a.keys = append(a.dims, dim), append(a.grains, grain), append(a.buckets, bucket), append(a.keys, key)
		a.jobs, a.gpuJobs, a.node, a.gpu, a.price = append(a.jobs, s.jobs), append(a.gpuJobs, s.gpuJobs), append(a.node, s.node), append(a.gpu, s.gpu), append(a.price, s.price)
	}
	for d, m := range days {
		type monthKey struct {
			key   string
			month time.Time
		}
		months := map[monthKey]*rollupSum{}
		for k, s := range m {
			date := time.Unix(int64(k.day)*86400, 0).UTC()
			emit(rollupDims[d], "d", date, k.key, s)
			mk := monthKey{k.key, time.Date(date.Year(), date.Month(), 1, 0, 0, 0, 0, time.UTC)}
			if t := months[mk]; t != nil {
				t.add(*s)
			} else {
				v := *s
				months[mk] = &v
			}
		}
		years := map[monthKey]*rollupSum{}
		for k, s := range months {
			emit(rollupDims[d], "m", k.month, k.key, s)
			yk := monthKey{k.key, time.Date(k.month.Year(), 1, 1, 0, 0, 0, 0, time.UTC)}
			if t := years[yk]; t != nil {
				t.add(*s)
			} else {
				v := *s
				years[yk] = &v
			}
		}
		for k, s := range years {
			emit(rollupDims[d], "y", k.month, k.key, s)
		}
	}
	for k, ch := range charges {
		// A charge rounds its sum once, half up; a correcting charge rounds its difference
		// once, half away from zero (a refund is the mirror of a charge).
		var p int64
		if ch.price >= 0 {
			p = accounting.Points(ch.price)
		} else {
			p = -accounting.Points(-ch.price)
		}
		if p > 0 || (k.correction && p != 0) {
			a.wallets, a.corrections, a.points, a.records = append(a.wallets, k.wallet), append(a.corrections, k.correction), append(a.points, p), append(a.records, ch.records)
			a.cnode, a.cgpu = append(a.cnode, ch.node), append(a.cgpu, ch.gpu)
			a.correctionKeys = append(a.correctionKeys, correctionKey(k.wallet, ch.changes))
		}
	}
	for _, sp := range spans {
		a.touched = append(a.touched, *sp)
	}
	sort.Slice(a.touched, func(i, j int) bool { return a.touched[i].WalletID < a.touched[j].WalletID })
	for u := range users {
		a.users = append(a.users, u)
	}
	return a
}

// write adds the sums to the rollups, creates the charges and records the cluster users this
// store has not seen yet.
func (a *usageSums) write(ctx context.Context, s *Store, tx pgx.Tx, origin string, now time.Time) (Saved, error) {
	saved := Saved{Added: a.added, Replaced: a.replaced, Touched: a.touched}
	if a.added == 0 && a.replaced == 0 {
		return saved, nil
	}
	// In key order, so that concurrent writers lock rollup rows in one order and never deadlock.
	if _, err := tx.Exec(ctx, rollupInto+`
		SELECT d, g::"char", b, k, j, gj, n, gp, m
		FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])
			AS v (d, g, b, k, j, gj, n, gp, m)
		ORDER BY 1, 2, 3, 4
		`+rollupAdd,
		a.dims, a.grains, a.buckets, a.keys, a.jobs, a.gpuJobs, a.node, a.gpu, a.price); err != nil {
		return saved, err
	}
	if len(a.wallets) > 0 {
		// A correcting charge carries a key derived from the replacements it corrects (record
		// key, old and new content hash): the same correction is never stored twice.
		tag, err := tx.Exec(ctx, `INSERT INTO usage_charges (wallet_id, points, records, node_seconds, gpu_seconds, origin, created_at, correction_key)
			SELECT w, p, r, n, g, CASE WHEN c THEN 'correction: ' || $6 ELSE $6 END, $7, NULLIF(ck, '')
			FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $8::bool[], $9::text[]) AS v (w, p, r, n, g, c, ck)
			ORDER BY w, c
			ON CONFLICT (correction_key) WHERE correction_key IS NOT NULL DO NOTHING`,
			a.wallets, a.points, a.records, a.cnode, a.cgpu, origin, now, a.corrections, a.correctionKeys)
		if err != nil {
			return saved, err
		}
		saved.Charges = int(tag.RowsAffected())
	}
	var clusters, logins []string
	for _, u := range a.users {
		if _, seen := s.seenUsers.Load(u); !seen {
			clusters, logins = append(clusters, u[0]), append(logins, u[1])
			saved.users = append(saved.users, u)
		}
	}
	if len(clusters) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO cluster_users (cluster, login, first_seen)
			SELECT c, l, $3 FROM unnest($1::text[], $2::text[]) AS v (c, l) ORDER BY 1, 2 ON CONFLICT DO NOTHING`,
			clusters, logins, now); err != nil {
			return saved, err
		}
	}
	return saved, nil
}

// rollupInsert adds the rows of the CTE src (columns of usage_records, with at = the job's
// end) to the day and month rollups of every dimension, in key order (so that concurrent
// writers lock rollup rows in one order and never deadlock).
func rollupInsert(src string) string {
	return rollupInto + `
			SELECT d.dim, b.grain, b.bucket, d.key, count(*), count(*) FILTER (WHERE s.gpus > 0), sum(s.node_seconds),
				sum(s.gpu_seconds), sum(s.charge_units)
			FROM ` + src + ` s,
				LATERAL (VALUES ('all', ''), ('wallet', ` + walletKeySQL("s") + `), ('user', s.user_name),
					('group', s.group_name), ('account', s.account), ('partition', s.partition), ('cluster', s.cluster)) d (dim, key),
				LATERAL (VALUES ('d'::"char", (s.at AT TIME ZONE 'UTC')::date),
					('m'::"char", date_trunc('month', s.at AT TIME ZONE 'UTC')::date),
					('y'::"char", date_trunc('year', s.at AT TIME ZONE 'UTC')::date)) b (grain, bucket)
			GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
			` + rollupAdd
}

// rollupInto and rollupAdd frame every write of usage_rollups: rows are added to the sums
// already there.
const (
	rollupInto = `INSERT INTO usage_rollups AS u (dim, grain, bucket, key, jobs, gpu_jobs, node_seconds, gpu_seconds, charge_units)`
	rollupAdd  = `ON CONFLICT (dim, grain, bucket, key) DO UPDATE SET jobs = u.jobs + EXCLUDED.jobs,
		gpu_jobs = u.gpu_jobs + EXCLUDED.gpu_jobs, node_seconds = u.node_seconds + EXCLUDED.node_seconds,
		gpu_seconds = u.gpu_seconds + EXCLUDED.gpu_seconds, charge_units = u.charge_units + EXCLUDED.charge_units`
)

// walletKeySQL is a record's key in the wallet dimension: the wallet id, "excluded" for usage
// an exclusion rule keeps from being charged, "" for unassigned usage.
func walletKeySQL(alias string) string {
	return `CASE WHEN ` + alias + `.wallet_id IS NOT NULL THEN ` + alias + `.wallet_id::text WHEN ` + alias + `.mapping_id IS NOT NULL THEN 'excluded' ELSE '' END`
}

// IngestError is accounting.IngestError.
type IngestError = accounting.IngestError

// IngestErrors lists the newest line errors, of one source when source (a name) is not ""
// (the first page of ListIngestErrors; limit 0: 50).
func (s *Store) IngestErrors(ctx context.Context, source string, limit int) ([]IngestError, error) {
	if limit <= 0 || limit > 10000 {
		limit = 50
	}
	out, _, err := s.ListIngestErrors(ctx, source, accounting.PageRequest{Limit: limit})
	return out, err
}

// UsageTotals sums the stored usage of a cluster ("" = every cluster).
type UsageTotals struct {
	Records     int64
	NodeSeconds int64
	GPUSeconds  int64
}

// UsageTotals sums usage_records.
func (s *Store) UsageTotals(ctx context.Context, cluster string) (UsageTotals, error) {
	var t UsageTotals
	err := s.pool.QueryRow(ctx, `SELECT count(*), COALESCE(sum(node_seconds), 0)::bigint, COALESCE(sum(gpu_seconds), 0)::bigint
		FROM usage_records WHERE $1 = '' OR cluster = $1`, cluster).Scan(&t.Records, &t.NodeSeconds, &t.GPUSeconds)
	return t, mapError(err, "usage records")
}
