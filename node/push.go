package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/push"
	"github.com/divinewhispers/dw/webhooks"
)

// validatePush checks the VAPID settings.
func (c *Config) validatePush() []error {
	switch {
	case c.VAPIDPublicKey == "" && c.VAPIDPrivateKey == "":
	case c.VAPIDPublicKey == "" || c.VAPIDPrivateKey == "":
		return []error{errors.New("--vapid-public-key and --vapid-private-key (DW_VAPID_PUBLIC_KEY, DW_VAPID_PRIVATE_KEY) go together; leave both empty to generate a pair into --data-dir")}
	default:
		if err := (push.Keys{Public: c.VAPIDPublicKey, Private: c.VAPIDPrivateKey}).Check(); err != nil {
			return []error{fmt.Errorf("--vapid-public-key/--vapid-private-key: %s", dw.MessageOf(err))}
		}
	}
	return nil
}

// vapidKeys returns the configured VAPID pair, or the one kept in the data directory (made on
// first use, like the JWT key: a cluster whose nodes have data directories of their own must be
// given the pair, or each node's subscriptions would be bound to a key the others do not sign
// with).
func (c *Config) vapidKeys() (push.Keys, error) {
	if c.VAPIDPublicKey != "" {
		return push.Keys{Public: c.VAPIDPublicKey, Private: c.VAPIDPrivateKey}, nil
	}
	if c.DataDir == "" {
		return push.Keys{}, errors.New("no --vapid-public-key/--vapid-private-key and no --data-dir to keep a generated pair in")
	}
	path := filepath.Join(c.DataDir, "vapid.json")
	read := func() (push.Keys, error) {
		var k push.Keys
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &k)
		}
		if err == nil {
			err = k.Check()
		}
		return k, err
	}
	if k, err := read(); err == nil {
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return push.Keys{}, fmt.Errorf("%s: %v (remove it to generate a new pair; browsers then subscribe again)", path, err)
	}
	if err := os.MkdirAll(c.DataDir, 0o711); err != nil {
		return push.Keys{}, err
	}
	k, err := push.GenerateKeys()
	if err != nil {
		return push.Keys{}, err
	}
	b, _ := json.Marshal(k)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process made it first
		return read()
	}
	if err != nil {
		return push.Keys{}, err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return push.Keys{}, err
	}
	return k, f.Close()
}

// pushService is the Web Push sender and worker of this node.
func (c *Config) pushService(store *persistence.Store, publicURL string) (*push.Service, error) {
	keys, err := c.vapidKeys()
	if err != nil {
		return nil, err
	}
	subject := c.VAPIDSubject
	if subject == "" {
		subject = publicURL
	}
	if subject == "" || (len(subject) > 5 && subject[:5] == "http:") {
		// Push services want a contact they can reach: an https URL or an address.
		subject = "https://github.com/divinewhispers/dw"
	}
	// Endpoints are URLs a browser gave us: the dialled address is checked as for webhooks.
	sender := &push.WebPush{Keys: keys, Subject: subject, Client: webhooks.Guard{AllowPrivate: c.PushAllowPrivate}.Client(10 * time.Second)}
	return &push.Service{Store: store, Senders: []push.Sender{sender}, Key: keys.Public, Poll: time.Second}, nil
}
