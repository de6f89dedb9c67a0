package accounting

import (
	"strconv"
	"time"
)

// The domain's stored things: ingest sources and the files they read, group mappings (charging.go),
// rates (charging.go), quotas, charges, cluster logins and usage reports. persistence stores them
// (and names some of them by their older names: persistence.IngestSource is Source); the gateway
// and the CLI show them in their own forms.

// Charge statuses.
const (
	ChargePending = "pending" // stored, not yet posted to the wallet
	ChargeCharged = "charged" // posted in full
	ChargeUnpaid  = "unpaid"  // posted; the wallet could pay only ChargedPoints
)

// Source is a directory of scheduler accounting logs read by `dw ingest run`.
type Source struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Dir       string        `json:"dir"`
	Glob      string        `json:"glob"`
	Format    string        `json:"format"` // slurm-sacct, slurm-jobcomp or pbs
	Cluster   string        `json:"cluster"`
	Interval  time.Duration `json:"interval"` // whole seconds
	Timezone  string        `json:"timezone"`
	Enabled   bool          `json:"enabled"`
	Columns   []string      `json:"columns"` // of header-less sacct files; empty: files have a header
	CreatedAt time.Time     `json:"created_at"`
}

// SourcePatch changes some settings of a source; nil fields are kept.
type SourcePatch struct {
	Dir      *string
	Glob     *string
	Timezone *string
	Interval *time.Duration // whole seconds
	Enabled  *bool
	Columns  *[]string
}

// Quota limits a wallet's usage per period, in node-hours and/or GPU core-hours (milli-hours
// here, which hold a limit given with three decimals exactly; 0 = no limit on that metric).
// Usage is compared with it exactly (accounting.Reached).
type Quota struct {
	ID             string    `json:"id"`
	WalletID       string    `json:"wallet_id"`
	Period         string    `json:"period"`
	NodeMilliHours int64     `json:"-"`
	GPUMilliHours  int64     `json:"-"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// QuotaStatus is a quota with the usage of its current period.
type QuotaStatus struct {
	Quota
	PeriodStart     time.Time  `json:"period_start"`
	PeriodEnd       *time.Time `json:"period_end,omitempty"` // none for the total period
	UsedNodeSeconds int64      `json:"-"`                    // exact
	UsedGPUSeconds  int64      `json:"-"`
}

// QuotaEvent is a threshold of a quota crossed in one period.
type QuotaEvent struct {
	QuotaID     string    `json:"quota_id"`
	WalletID    string    `json:"wallet_id"`
	Period      string    `json:"period"`
	PeriodStart time.Time `json:"period_start"`
	Metric      string    `json:"metric"` // node_hours or gpu_core_hours
	Threshold   int       `json:"threshold"`
	Used        float64   `json:"used"`  // hours, rounded once to 3 decimals
	Quota       float64   `json:"quota"` // hours
	// UsedSeconds is the exact usage that crossed the threshold; nil for a crossing recorded
	// before usage was kept in seconds (migration 010), whose Used is the milli-hours it kept.
	UsedSeconds *int64    `json:"used_seconds"`
	CreatedAt   time.Time `json:"created_at"`
}

// ClusterUser is a login name seen in a cluster's logs, maybe linked to a platform user.
type ClusterUser struct {
	Cluster   string    `json:"cluster"`
	Login     string    `json:"login"`
	UserID    string    `json:"user_id,omitempty"`
	Email     string    `json:"email,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
}

// Reassigned says what adding a mapping did to usage that was unassigned until then.
type Reassigned struct {
	Records int64        `json:"records"` // unassigned jobs the rule now covers
	Charges int          `json:"charges"` // charges created for them (one per wallet)
	Points  int64        `json:"points"`  // their sum
	Touched []WalletSpan `json:"-"`
	Events  []QuotaEvent `json:"-"` // quota thresholds crossed by it
}

// Charge is an aggregated usage charge: one wallet, the jobs of one stored file (or of one late
// mapping). A correcting charge (origin "correction: …") is the difference made by stored
// records that records of a later file replaced (accounting.Wins): more points when the usage
// grew, negative points — a refund, credited to the wallet — when it shrank.
type Charge struct {
	ID       int64  `json:"id"`
	WalletID string `json:"wallet_id"`
	Points   int64  `json:"points"`
	Records  int    `json:"records"`
	// NodeSeconds and GPUSeconds are the exact usage the charge covers; nil for a charge made
	// before usage was kept in seconds (migration 010), whose hours are the milli-hours it kept.
	NodeSeconds   *int64     `json:"node_seconds"`
	GPUSeconds    *int64     `json:"gpu_seconds"`
	NodeHours     float64    `json:"node_hours"`     // rounded once to 3 decimals
	GPUCoreHours  float64    `json:"gpu_core_hours"` // rounded once to 3 decimals
	Origin        string     `json:"origin"`
	Status        string     `json:"status"`
	ChargedPoints int64      `json:"charged_points"`
	TransactionID string     `json:"transaction_id,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	SettledAt     *time.Time `json:"settled_at,omitempty"`
	// CorrectionKey of a correcting charge is derived from the replacements it corrects
	// (wallet, record keys, old and new content hashes); "" for a charge of new records.
	CorrectionKey string `json:"-"`
}

// ChargeFilter selects charges.
type ChargeFilter struct {
	WalletID string
	Status   string
	Limit    int
	Cursor   string // where the previous page ended ("": the first page)
}

// WalletSpan is a wallet with new usage whose jobs ended between From and To.
type WalletSpan struct {
	WalletID string
	From, To time.Time
}

// WalletRef is a wallet's id and name.
type WalletRef struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// ProcessedFile is what is known of one file a source has read.
type ProcessedFile struct {
	SourceID     string
	Path         string
	Size         int64
	MTime        time.Time
	SHA256       []byte // of the whole file (Size bytes) when it was read
	PrefixSHA256 []byte // of its first Offset bytes
	Offset       int64  // bytes consumed (uncompressed bytes for a gzip file)
	Lines        int    // lines consumed
	Columns      []string
	Gzip         bool
	Records      int
	Errors       int
	Status       string
	UpdatedAt    time.Time
	// ClusterMismatches counts the records read whose file names a cluster other than the
	// source's (they are stored under the source's; see accounting.Record.FileCluster).
	ClusterMismatches int
}

// IngestError is one line a source could not read.
type IngestError struct {
	Source    string    `json:"source"`
	File      string    `json:"file"`
	Line      int       `json:"line"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"created_at"`
}

// Overview is the headline of compute accounting over [From, To).
type Overview struct {
	From           time.Time  `json:"from"`
	To             time.Time  `json:"to"`
	TotalNodeHours float64    `json:"total_node_hours"`   // CPU jobs
	TotalCoreHours float64    `json:"total_core_hours"`   // GPU jobs
	TotalNodeSecs  int64      `json:"total_node_seconds"` // exact
	TotalGPUSecs   int64      `json:"total_gpu_seconds"`  // exact
	Jobs           int64      `json:"jobs"`
	CPUJobs        int64      `json:"cpu_jobs"`
	GPUJobs        int64      `json:"gpu_jobs"`
	Points         float64    `json:"points"` // priced usage
	Unassigned     UsageSum   `json:"unassigned"`
	TopWallets     []UsageSum `json:"top_wallets"`
	TopUsers       []UsageSum `json:"top_users"`
	TopPartitions  []UsageSum `json:"top_partitions"`
}

// UsageQuery asks for usage grouped by a dimension and a time bucket.
type UsageQuery struct {
	GroupBy string            // a dimension
	Bucket  string            // day, week, month, or "" for one row per key over the whole range
	From    time.Time         // UTC days [From, To)
	To      time.Time         //
	Filters map[string]string // dimension → value ("" = unassigned for wallet)
	Limit   int               // rows; 0 = 10,000
}

// UsageSum is the usage of a group of jobs. Key is the dimension's value: a wallet id, ""
// (unassigned) or "excluded" for wallets; Name is the wallet's name.
type UsageSum struct {
	Bucket      string  `json:"bucket,omitempty"` // YYYY-MM-DD: the first day of the day, week or month
	Key         string  `json:"key"`
	Name        string  `json:"name,omitempty"`
	Jobs        int64   `json:"jobs"`
	CPUJobs     int64   `json:"cpu_jobs"`
	GPUJobs     int64   `json:"gpu_jobs"`
	NodeHours   float64 `json:"node_hours"`   // NodeSeconds rounded once to 3 decimals
	CoreHours   float64 `json:"core_hours"`   // GPUSeconds rounded once to 3 decimals
	Points      float64 `json:"points"`       // the exact price rounded once to 6 decimals
	NodeSeconds int64   `json:"node_seconds"` // CPU jobs' node-seconds, exact
	GPUSeconds  int64   `json:"gpu_seconds"`  // GPU jobs' GPU-seconds, exact
}

// IdempotencyKey is the key the charge is posted to its wallet with: its correction key for a
// correcting charge, usage-charge:<id> for any other.
func (c Charge) IdempotencyKey() string {
	if c.CorrectionKey != "" {
		return c.CorrectionKey
	}
	return "usage-charge:" + strconv.FormatInt(c.ID, 10)
}
