package accounting

import "strings"

// MappingInput is a new group-mapping rule: the jobs it matches are charged to Wallet (a wallet
// id or a shared wallet's name), or, with Exclude and no wallet, tracked and never charged.
type MappingInput struct {
	Cluster string // "" = any cluster
	User    string
	Account string
	Group   string
	Wallet  string
	Exclude bool
	Note    string
}

func (in MappingInput) trimmed() MappingInput {
	in.Cluster, in.User, in.Account = strings.TrimSpace(in.Cluster), strings.TrimSpace(in.User), strings.TrimSpace(in.Account)
	in.Group, in.Wallet, in.Note = strings.TrimSpace(in.Group), strings.TrimSpace(in.Wallet), strings.TrimSpace(in.Note)
	return in
}

// Validate reports every problem of the rule, keyed by field. Errors: invalid.
func (in MappingInput) Validate() error {
	in = in.trimmed()
	var ps Problems
	if in.User == "" && in.Account == "" && in.Group == "" {
		ps.Add("user", "give {user}, {account} or {group} to match")
	}
	switch {
	case in.Wallet == "" && !in.Exclude:
		ps.Add("wallet", "give {wallet} ID|NAME (the wallet to charge: a wallet id or a shared wallet's name) or {exclude} (track, never charge)")
	case in.Wallet != "" && in.Exclude:
		ps.Add("exclude", "give {wallet} or {exclude}, not both: an exclusion rule has no wallet")
	}
	tooLong(&ps, maxText, "cluster", in.Cluster, "user", in.User, "account", in.Account, "group", in.Group, "wallet", in.Wallet)
	tooLong(&ps, maxNote, "note", in.Note)
	return ps.Err()
}
