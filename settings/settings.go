package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/persistence"
)

// Sources of a setting's value.
const (
	SourceDefault  = "default"  // built in
	SourceFlag     = "flag"     // the node's command-line flag (or its DW_* variable)
	SourceDatabase = "database" // set through PATCH /api/v1/admin/config
)

// Definition is one setting, registered by the package that uses it.
type Definition struct {
	Key         string // snake_case, unique
	Description string
	Default     any  // the value without a database override (JSON-encodable, in Parse's normal form)
	FromFlag    bool // Default was given by a flag rather than built in
	// Parse checks a JSON value and returns its normal form (what is stored, shown and
	// applied). Its error is shown to the caller, prefixed with the key.
	Parse func(raw json.RawMessage) (any, error)
	// Apply puts a value (Parse's normal form) in force on this node. It is called once at the
	// first Load and again whenever the value in force changes, never concurrently.
	Apply func(v any)
}

// Store is what Service reads and writes; persistence.Store implements it.
type Store interface {
	Settings(ctx context.Context) ([]persistence.Setting, error)
	SaveSettings(ctx context.Context, changes []persistence.SettingChange, audit func(old map[string]json.RawMessage) persistence.AuditEntry) error
	ListenSettings(ctx context.Context, ready func(), event func()) error
}

// Service holds the registered settings and the values in force on this node.
type Service struct {
	store Store
	log   *slog.Logger
	// Reload is how often the values are read again when no notification came (0 = 30 s).
	Reload time.Duration

	mu      sync.Mutex // registrations
	defs    map[string]*Definition
	applyMu sync.Mutex                 // one Load at a time: Apply is never concurrent
	applied map[string]json.RawMessage // the normal form in force, by key
}

// New returns a service over store with nothing registered.
func New(store Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: store, log: log, defs: map[string]*Definition{}, applied: map[string]json.RawMessage{}}
}

// Register adds settings. Call it before Load; a setting registered later is applied at the
// next Load. Errors: a key empty, taken, or without Parse and Apply; a default Parse refuses.
func (s *Service) Register(defs ...Definition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range defs {
		switch {
		case d.Key == "" || d.Parse == nil || d.Apply == nil:
			return fmt.Errorf("setting %q: a key, Parse and Apply are required", d.Key)
		case s.defs[d.Key] != nil:
			return fmt.Errorf("setting %q registered twice", d.Key)
		}
		raw, err := json.Marshal(d.Default)
		if err != nil {
			return fmt.Errorf("setting %s: default: %w", d.Key, err)
		}
		if _, err := d.Parse(raw); err != nil {
			return fmt.Errorf("setting %s: default %s: %w", d.Key, raw, err)
		}
		s.defs[d.Key] = &d
	}
	return nil
}

func (s *Service) definitions() []*Definition {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Definition, 0, len(s.defs))
	for _, d := range s.defs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (s *Service) definition(key string) *Definition {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.defs[key]
}

// View is one setting as GET /api/v1/admin/config shows it.
type View struct {
	Key         string          `json:"key"`
	Value       json.RawMessage `json:"value"`
	Default     json.RawMessage `json:"default"`
	Source      string          `json:"source"`
	Description string          `json:"description"`
	UpdatedAt   *time.Time      `json:"updated_at"`
	UpdatedBy   *string         `json:"updated_by"`
}

// effective is the value in force of d given its stored row (nil: none), in normal form. A
// stored value that no longer parses (written by another version) gives way to the default.
func (s *Service) effective(d *Definition, row *persistence.Setting) (json.RawMessage, bool) {
	if row != nil {
		if v, err := d.Parse(row.Value); err == nil {
			raw, _ := json.Marshal(v)
			return raw, true
		}
		s.log.Warn("settings: a stored value is invalid; the default is in force", "key", d.Key)
	}
	raw, _ := json.Marshal(d.Default)
	return raw, false
}

func byKey(rows []persistence.Setting) map[string]*persistence.Setting {
	m := make(map[string]*persistence.Setting, len(rows))
	for i := range rows {
		m[rows[i].Key] = &rows[i]
	}
	return m
}

// List reads every registered setting from the database: its value in force, its default and
// where the value comes from. Errors: unavailable, internal.
func (s *Service) List(ctx context.Context) ([]View, error) {
	rows, err := s.store.Settings(ctx)
	if err != nil {
		return nil, err
	}
	stored := byKey(rows)
	var out []View
	for _, d := range s.definitions() {
		row := stored[d.Key]
		value, fromDB := s.effective(d, row)
		def, _ := json.Marshal(d.Default)
		v := View{Key: d.Key, Value: value, Default: def, Source: SourceDefault, Description: d.Description}
		switch {
		case fromDB:
			v.Source = SourceDatabase
			at := row.UpdatedAt
			v.UpdatedAt, v.UpdatedBy = &at, row.UpdatedBy
		case d.FromFlag:
			v.Source = SourceFlag
		}
		out = append(out, v)
	}
	return out, nil
}

// Load reads the stored values and applies every value in force that changed (all of them
// the first time). Errors: unavailable, internal.
func (s *Service) Load(ctx context.Context) error {
	rows, err := s.store.Settings(ctx)
	if err != nil {
		return err
	}
	stored := byKey(rows)
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	for _, d := range s.definitions() {
		raw, _ := s.effective(d, stored[d.Key])
		if prev, ok := s.applied[d.Key]; ok && string(prev) == string(raw) {
			continue
		}
		v, err := d.Parse(raw)
		if err != nil { // cannot happen: raw is a normal form
			return dw.Internal(fmt.Errorf("setting %s: %w", d.Key, err))
		}
		d.Apply(v)
		s.applied[d.Key] = raw
		s.log.Info("setting in force", "key", d.Key, "value", string(raw))
	}
	return nil
}

// PatchInput is a change of settings: key → new value; JSON null puts the default back.
type PatchInput struct {
	Values  map[string]json.RawMessage
	ActorID string
	IP      string
}

// Patch validates every key and value first (nothing changes unless all are good), stores the
// changes with an audit row (config.changed, each key's old and new value in force) and a
// notification to every node, in one transaction, then applies them on this node at once;
// the other nodes apply them within a second or so (at most Reload, should a notification be
// lost). It returns every setting as List does. Errors: invalid (code invalid, a message per
// bad key under the "errors" extension), unavailable, internal.
func (s *Service) Patch(ctx context.Context, in PatchInput) ([]View, error) {
	bad := map[string]string{}
	if len(in.Values) == 0 {
		bad["config"] = "give at least one setting to change"
	}
	var changes []persistence.SettingChange
	next := map[string]json.RawMessage{}
	for key, raw := range in.Values {
		d := s.definition(key)
		if d == nil {
			bad[key] = "unknown setting"
			continue
		}
		c := persistence.SettingChange{Key: key}
		if string(raw) == "null" {
			next[key], _ = json.Marshal(d.Default)
		} else {
			v, err := d.Parse(raw)
			if err != nil {
				bad[key] = err.Error()
				continue
			}
			c.Value, _ = json.Marshal(v)
			next[key] = c.Value
		}
		changes = append(changes, c)
	}
	if err := dw.FieldErrors(bad); err != nil {
		return nil, err
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Key < changes[j].Key })
	audit := func(old map[string]json.RawMessage) persistence.AuditEntry {
		type change struct {
			Old json.RawMessage `json:"old"`
			New json.RawMessage `json:"new"`
		}
		detail := map[string]change{}
		keys := make([]string, 0, len(changes))
		for _, c := range changes {
			d := s.definition(c.Key)
			var row *persistence.Setting
			if v, ok := old[c.Key]; ok {
				row = &persistence.Setting{Key: c.Key, Value: v}
			}
			was, _ := s.effective(d, row)
			detail[c.Key] = change{Old: was, New: next[c.Key]}
			keys = append(keys, c.Key)
		}
		b, _ := json.Marshal(map[string]any{"changes": detail})
		return persistence.AuditEntry{ActorID: in.ActorID, Action: "config.changed", TargetType: "config",
			TargetID: strings.Join(keys, ","), Detail: b, IP: in.IP}
	}
	if err := s.store.SaveSettings(ctx, changes, audit); err != nil {
		return nil, err
	}
	if err := s.Load(ctx); err != nil {
		return nil, err
	}
	return s.List(ctx)
}

// Run keeps this node's values current until ctx ends: it listens for changes (reloading on
// each, and on every (re)connection, since notifications may be lost while nobody listens)
// and reloads every Reload anyway.
func (s *Service) Run(ctx context.Context) {
	every := s.Reload
	if every <= 0 {
		every = 30 * time.Second
	}
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		const maxBackoff = 5 * time.Second
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := s.store.ListenSettings(ctx, func() { backoff = 100 * time.Millisecond; poke() }, poke)
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("settings listener lost; changes apply at the next periodic reload until it is back", "err", err)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, maxBackoff)
		}
	}()
	defer wg.Wait()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-t.C:
		}
		if err := s.Load(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("settings: reload", "err", err)
		}
	}
}
