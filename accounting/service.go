package accounting

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
)

// Service is compute accounting's core: the one place the gateway and the CLI add, change and
// read sources, mappings, rates, quotas, charges, cluster logins and usage reports. It checks
// every input by the rules of this package, then calls its Store.
type Service struct {
	store   Store
	dirs    Dirs
	charged func() // after a mapping charged usage: post the charges now (may be nil)
	now     func() time.Time
}

// ServiceConfig is what a Service is made of.
type ServiceConfig struct {
	Store Store
	Dirs  Dirs // the node's ingest roots; nil: every source directory is refused
	// Charged is called after a new mapping created charges, to post them without waiting for
	// the next round of the charger; nil: they wait.
	Charged func()
	Now     func() time.Time // nil: time.Now
}

// NewService returns a Service over cfg.Store.
func NewService(cfg ServiceConfig) *Service {
	s := &Service{store: cfg.Store, dirs: cfg.Dirs, charged: cfg.Charged, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// writeTime is the time a write is stamped with, at the database's precision, so that what a
// write answers equals what a later read shows.
func (s *Service) writeTime() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// ---- Sources ----

// Sources answers a page of the ingest sources by name (PageSources) and the next page's
// cursor ("" after the last). Errors: invalid (limit; bad_cursor), internal.
func (s *Service) Sources(ctx context.Context, p PageRequest) ([]Source, string, error) {
	p, err := PageSources.page(p)
	if err != nil {
		return nil, "", err
	}
	srcs, next, err := s.store.ListSources(ctx, p)
	return nonNil(srcs), next, err
}

// Source returns a source by id. Errors: not_found.
func (s *Service) Source(ctx context.Context, id string) (Source, error) {
	return s.store.SourceByID(ctx, id)
}

// sourceDir checks a source's new directory on the node, recording its problem; it returns the
// directory made absolute.
func (s *Service) sourceDir(ps *Problems, dir string) string {
	if dir == "" || !filepath.IsAbs(dir) {
		return dir // said by checkSource
	}
	if s.dirs == nil {
		ps.AddCoded(CodeRootRequired, "dir", "no ingest root is configured: sources may only read directories under a root the node is started with, %s DIR", RootSetting)
		return dir
	}
	abs, err := s.dirs.SourceDir(dir)
	if err != nil {
		ps.Merge(err)
		return dir
	}
	return abs
}

// refused audits a source the ingest roots refused (via create or update), then returns err.
func (s *Service) refused(ctx context.Context, by Actor, src Source, via string, err error) error {
	if !IsRefused(err) {
		return err
	}
	if aerr := s.store.AuditSource(ctx, by, RefusedAction, src.ID, RefusalDetail(src, via, err)); aerr != nil {
		return aerr
	}
	return err
}

// AddSource validates and stores a new source, its directory checked against the ingest roots
// (a refusal is audited). Errors: invalid (every problem keyed by field; code
// ingest_root_required, dir_outside_ingest_roots or glob_outside_dir for a refusal), conflict
// (source_name_taken).
func (s *Service) AddSource(ctx context.Context, by Actor, in SourceInput) (Source, error) {
	src, err := s.CheckSource(in)
	if err != nil {
		return Source{}, s.refused(ctx, by, src, "create", err)
	}
	return s.store.AddSource(ctx, src, by)
}

// CheckSource checks a new source as AddSource does, without storing it or auditing a refusal,
// and returns it with its defaults and its directory made absolute: an adapter checks its
// input before it opens the database. Errors: invalid (as AddSource).
func (s *Service) CheckSource(in SourceInput) (Source, error) {
	src := in.Source()
	var ps Problems
	checkSource(&ps, src, true)
	src.Dir = s.sourceDir(&ps, src.Dir)
	return src, ps.Err()
}

// ChangeSource applies a change to a stored source. A directory that is not being changed is
// not checked again: a source whose directory went away, or lies outside the roots since they
// changed, must still be disabled or given another one (its scans are refused meanwhile).
// Errors: invalid (as AddSource), not_found.
func (s *Service) ChangeSource(ctx context.Context, by Actor, id string, ch SourceChange) (Source, error) {
	if ch.Empty() {
		var ps Problems
		ps.Add("", "nothing to change: give at least one of {dir}, {glob}, {timezone}, {interval}, {enabled}, {columns}")
		return Source{}, ps.Err()
	}
	stored, err := s.store.SourceByID(ctx, id)
	if err != nil {
		return Source{}, err
	}
	src := ch.apply(stored)
	var ps Problems
	checkSource(&ps, src, ch.Dir != nil)
	if ch.Dir != nil {
		src.Dir = s.sourceDir(&ps, src.Dir)
	}
	if err := ps.Err(); err != nil {
		return Source{}, s.refused(ctx, by, src, "update", err)
	}
	p := SourcePatch{Enabled: ch.Enabled}
	if ch.Dir != nil {
		p.Dir = &src.Dir
	}
	if ch.Glob != nil {
		p.Glob = &src.Glob
	}
	if ch.Timezone != nil {
		p.Timezone = &src.Timezone
	}
	if ch.Interval != nil {
		p.Interval = &src.Interval
	}
	if ch.Columns != nil {
		cols := src.Columns
		if cols == nil {
			cols = []string{}
		}
		p.Columns = &cols
	}
	return s.store.UpdateSource(ctx, id, p, by)
}

// RemoveSource removes a source with its file and error rows (the usage it read stays).
// Errors: not_found.
func (s *Service) RemoveSource(ctx context.Context, by Actor, id string) error {
	return s.store.RemoveSource(ctx, id, by)
}

// RequestScan asks scan (the source's ingest grain) to scan an enabled source now, and audits
// the request. Errors: not_found, conflict (source_disabled), those of scan.
func (s *Service) RequestScan(ctx context.Context, by Actor, id string, scan func(ctx context.Context, sourceID string) error) (Source, error) {
	src, err := s.store.SourceByID(ctx, id)
	if err != nil {
		return Source{}, err
	}
	if !src.Enabled {
		return Source{}, dw.Coded(dw.KindConflict, "source_disabled", "source %s is disabled: enable it first", src.Name)
	}
	if err := scan(ctx, src.ID); err != nil {
		return Source{}, err
	}
	return src, s.store.AuditSource(ctx, by, "accounting.source.scan", src.ID, nil)
}

// SourceFiles returns a source with a page of the files it has read, by path
// (PageSourceFiles), and the next page's cursor. Errors: not_found, invalid (limit;
// bad_cursor).
func (s *Service) SourceFiles(ctx context.Context, id string, p PageRequest) (Source, []ProcessedFile, string, error) {
	p, err := PageSourceFiles.page(p)
	if err != nil {
		return Source{}, nil, "", err
	}
	src, err := s.store.SourceByID(ctx, id)
	if err != nil {
		return Source{}, nil, "", err
	}
	files, next, err := s.store.ListProcessedFiles(ctx, src.ID, p)
	if err != nil {
		return Source{}, nil, "", err
	}
	return src, nonNil(files), next, nil
}

// IngestErrors answers a page of the line errors, newest first (PageIngestErrors), of the
// source named source when it is not "", and the next page's cursor. Errors: invalid (limit;
// bad_cursor), not_found (source).
func (s *Service) IngestErrors(ctx context.Context, source string, p PageRequest) ([]IngestError, string, error) {
	p, err := PageIngestErrors.page(p)
	if err != nil {
		return nil, "", err
	}
	if source != "" {
		if _, err := s.store.SourceByName(ctx, source); err != nil {
			return nil, "", err
		}
	}
	errs, next, err := s.store.ListIngestErrors(ctx, source, p)
	for i := range errs {
		// Rows stored before excerpts were capped may quote a whole line.
		errs[i].Message = Excerpt(errs[i].Message)
	}
	return nonNil(errs), next, err
}

// ---- Mappings and rates ----

// Mappings answers a page of the group-mapping rules, oldest first (PageMappings), and the
// next page's cursor. Errors: invalid (limit; bad_cursor), internal.
func (s *Service) Mappings(ctx context.Context, p PageRequest) ([]Mapping, string, error) {
	p, err := PageMappings.page(p)
	if err != nil {
		return nil, "", err
	}
	maps, next, err := s.store.ListMappings(ctx, p)
	return nonNil(maps), next, err
}

// AddMapping validates and stores a rule, and charges the unassigned usage it covers to its
// wallet in the same transaction. Errors: invalid, not_found (wallet_not_found), conflict
// (mapping_exists).
func (s *Service) AddMapping(ctx context.Context, by Actor, in MappingInput) (Mapping, Reassigned, error) {
	if err := in.Validate(); err != nil {
		return Mapping{}, Reassigned{}, err
	}
	in = in.trimmed()
	m := Mapping{Cluster: in.Cluster, User: in.User, Account: in.Account, Group: in.Group, Note: in.Note}
	if in.Wallet != "" {
		w, err := s.store.WalletByRef(ctx, in.Wallet)
		if err != nil {
			return Mapping{}, Reassigned{}, err
		}
		m.WalletID = w.ID
	}
	m, re, err := s.store.AddMapping(ctx, m, by, s.writeTime())
	if err != nil {
		return Mapping{}, Reassigned{}, err
	}
	if s.charged != nil && re.Charges > 0 {
		s.charged()
	}
	return m, re, nil
}

// RemoveMapping removes a rule (usage already charged stays charged). Errors: not_found.
func (s *Service) RemoveMapping(ctx context.Context, by Actor, id string) error {
	return s.store.RemoveMapping(ctx, id, by)
}

// Rates answers a page of the charge rates by cluster, partition and effective date
// (PageRates), and the next page's cursor. Errors: invalid (limit; bad_cursor), internal.
func (s *Service) Rates(ctx context.Context, p PageRequest) ([]Rate, string, error) {
	p, err := PageRates.page(p)
	if err != nil {
		return nil, "", err
	}
	rates, next, err := s.store.ListRates(ctx, p)
	return nonNil(rates), next, err
}

// AddRate validates and stores a charge rate (it prices jobs stored from then on).
// Errors: invalid, conflict (rate_exists).
func (s *Service) AddRate(ctx context.Context, by Actor, in RateInput) (Rate, error) {
	at := s.writeTime()
	var ps Problems
	r := in.rate(&ps, at)
	if err := ps.Err(); err != nil {
		return Rate{}, err
	}
	return s.store.AddRate(ctx, r, by, at)
}

// RemoveRate removes a charge rate. Errors: not_found.
func (s *Service) RemoveRate(ctx context.Context, by Actor, id string) error {
	return s.store.RemoveRate(ctx, id, by)
}

// ---- Wallets, quotas and charges ----

// CreateSharedWallet creates a wallet groups and projects charge to.
// Errors: invalid (name), conflict (wallet_name_taken).
func (s *Service) CreateSharedWallet(ctx context.Context, by Actor, name string) (WalletRef, error) {
	if err := CheckWalletName(name); err != nil {
		return WalletRef{}, err
	}
	return s.store.CreateSharedWallet(ctx, name, by)
}

// CheckWalletName checks the name of a new shared wallet. Errors: invalid.
func CheckWalletName(name string) error {
	var ps Problems
	if n := strings.TrimSpace(name); n == "" || len(n) > maxText {
		ps.Add("name", "{name} is required: the wallet's name, 1 to %d characters", maxText)
	}
	return ps.Err()
}

// Wallet resolves a wallet id or a shared wallet's name. Errors: not_found (wallet_not_found),
// invalid (a name several shared wallets have).
func (s *Service) Wallet(ctx context.Context, ref string) (WalletRef, error) {
	return s.store.WalletByRef(ctx, strings.TrimSpace(ref))
}

// Quotas answers a page of the quotas by wallet id and period (PageQuotas), of one wallet
// when walletID is not "", with the usage of their current period, and the next page's cursor.
// Errors: invalid (limit; bad_cursor), internal.
func (s *Service) Quotas(ctx context.Context, walletID string, p PageRequest) ([]QuotaStatus, string, error) {
	p, err := PageQuotas.page(p)
	if err != nil {
		return nil, "", err
	}
	qs, next, err := s.store.ListQuotas(ctx, walletID, p, s.now())
	return nonNil(qs), next, err
}

// SetQuota validates a quota and stores it in place of the wallet's quota of that period; it
// returns it with the usage of its current period. Errors: invalid, not_found
// (wallet_not_found), conflict (removed meanwhile).
func (s *Service) SetQuota(ctx context.Context, by Actor, in QuotaInput) (QuotaStatus, error) {
	var ps Problems
	q := in.quota(&ps)
	if err := ps.Err(); err != nil {
		return QuotaStatus{}, err
	}
	w, err := s.store.WalletByRef(ctx, strings.TrimSpace(in.Wallet))
	if err != nil {
		return QuotaStatus{}, err
	}
	q.WalletID = w.ID
	at := s.writeTime()
	saved, err := s.store.SetQuota(ctx, q, by, at)
	if err != nil {
		return QuotaStatus{}, err
	}
	// A wallet has one quota per period: one page holds them all.
	qs, _, err := s.store.ListQuotas(ctx, w.ID, PageRequest{Limit: PageQuotas.Max}, at)
	if err != nil {
		return QuotaStatus{}, err
	}
	for _, st := range qs {
		if st.ID == saved.ID {
			return st, nil
		}
	}
	return QuotaStatus{}, dw.Errorf(dw.KindConflict, "quota %s was removed meanwhile", saved.ID)
}

// RemoveQuota removes a quota. Errors: not_found.
func (s *Service) RemoveQuota(ctx context.Context, by Actor, id string) error {
	return s.store.RemoveQuota(ctx, id, by)
}

// QuotaEvents answers a page of the quota thresholds crossed, newest first (PageQuotaEvents),
// of one wallet when walletID is not "", and the next page's cursor.
// Errors: invalid (limit; bad_cursor).
func (s *Service) QuotaEvents(ctx context.Context, walletID string, p PageRequest) ([]QuotaEvent, string, error) {
	p, err := PageQuotaEvents.page(p)
	if err != nil {
		return nil, "", err
	}
	evs, next, err := s.store.ListQuotaEvents(ctx, walletID, p)
	return nonNil(evs), next, err
}

// Charges answers a page of usage charges, newest first (by id; PageCharges, Limit 0 is its
// default), after f.Cursor, and the next page's cursor.
// Errors: invalid (status, limit; bad_cursor).
func (s *Service) Charges(ctx context.Context, f ChargeFilter) ([]Charge, string, error) {
	var err error
	if f.Limit, err = PageCharges.Limit(f.Limit); err != nil {
		return nil, "", err
	}
	if f.Status != "" && !oneOf(f.Status, ChargeStatuses) {
		var ps Problems
		ps.Add("status", "{status} must be one of %s", strings.Join(ChargeStatuses, ", "))
		return nil, "", ps.Err()
	}
	cs, next, err := s.store.ListCharges(ctx, f)
	return nonNil(cs), next, err
}

// ---- Cluster logins ----

// ClusterUsers answers a page of the logins seen in the logs by cluster and login
// (PageClusterUsers), of one cluster, starting with prefix, and the next page's cursor.
// Errors: invalid (limit, cluster or prefix too long; bad_cursor).
func (s *Service) ClusterUsers(ctx context.Context, cluster, prefix string, p PageRequest) ([]ClusterUser, string, error) {
	p, err := PageClusterUsers.page(p)
	if err != nil {
		return nil, "", err
	}
	var ps Problems
	tooLong(&ps, maxText, "cluster", cluster, "q", prefix)
	if err := ps.Err(); err != nil {
		return nil, "", err
	}
	us, next, err := s.store.ListClusterUsers(ctx, cluster, prefix, p)
	return nonNil(us), next, err
}

// LinkClusterUser links a cluster login to a platform user (userID "" unlinks) and returns the
// login with the user's email. Errors: not_found (login; user_not_found).
func (s *Service) LinkClusterUser(ctx context.Context, by Actor, cluster, login, userID string) (ClusterUser, error) {
	cu, err := s.store.LinkClusterUser(ctx, cluster, login, userID, by)
	if err != nil || cu.UserID == "" {
		return cu, err
	}
	cu.Email, err = s.store.UserEmail(ctx, cu.UserID)
	return cu, err
}

// ---- Reports ----

// Overview is the headline of usage over the UTC days [from, to) with the top lists of top
// rows (0: the page's default). Errors: invalid (range, top).
func (s *Service) Overview(ctx context.Context, from, to time.Time, top int) (Overview, error) {
	top, err := PageTop.Limit(top)
	if err != nil {
		return Overview{}, err
	}
	if !from.Before(to) {
		var ps Problems
		ps.Add("from", "{from} (%s) must be a day before {to} (%s): {to} is exclusive", from.Format(time.DateOnly), to.Format(time.DateOnly))
		return Overview{}, ps.Err()
	}
	return s.store.Overview(ctx, from, to, top)
}

// Usage answers a usage report. The wallet filter names a wallet (an id or a shared wallet's
// name), unassigned (or "") or excluded. Errors: invalid (group_by, bucket, filters, range), not_found
// (wallet_not_found).
func (s *Service) Usage(ctx context.Context, q UsageQuery) ([]UsageSum, error) {
	if err := q.validate(); err != nil {
		return nil, err
	}
	if v, ok := q.Filters["wallet"]; ok {
		switch v {
		case WalletUnassigned, "": // "" is how the store names unassigned usage
			v = ""
		case WalletExcluded:
		default:
			w, err := s.store.WalletByRef(ctx, v)
			if err != nil {
				return nil, err
			}
			v = w.ID
		}
		filters := make(map[string]string, len(q.Filters))
		for k, f := range q.Filters {
			filters[k] = f
		}
		filters["wallet"] = v
		q.Filters = filters
	}
	rows, err := s.store.Usage(ctx, q)
	return nonNil(rows), err
}

// LoginUsage is the usage of one cluster login, by bucket.
type LoginUsage struct {
	Login ClusterUser
	Rows  []UsageSum
}

// LinkedUsage is the usage of the cluster logins linked to a platform user (what linking a
// login is for), over the UTC days [from, to) by bucket ("" = the whole range).
// Errors: invalid (bucket, range).
func (s *Service) LinkedUsage(ctx context.Context, userID, bucket string, from, to time.Time) ([]LoginUsage, error) {
	logins, err := s.store.LinkedLogins(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]LoginUsage, 0, len(logins))
	for _, l := range logins {
		q := UsageQuery{GroupBy: "user", Bucket: bucket, From: from, To: to, Filters: map[string]string{"cluster": l.Cluster, "user": l.Login}}
		if err := q.validate(); err != nil {
			return nil, err
		}
		rows, err := s.store.Usage(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, LoginUsage{Login: l, Rows: rows})
	}
	return out, nil
}

// nonNil makes a nil list an empty one: lists are shown as [], never null.
func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}
