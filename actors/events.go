package actors

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/jobpb"
)

// UserTopic carries the job events of one user; WalletTopic the balance events of one wallet.
func UserTopic(userID string) string     { return "user:" + userID }
func WalletTopic(walletID string) string { return "wallet:" + walletID }

// AccountingTopic carries compute-accounting events (quota thresholds) for admins and operators.
const AccountingTopic = "accounting"

// Events publishes live events through the cluster's pub/sub and subscribes local consumers
// (WebSocket and SSE connections) to topics. Delivery is at most once: a publisher never waits
// for it, and a full lane drops the event (clients resync from the API).
type Events struct {
	c       *pcluster.Cluster
	log     *slog.Logger
	lanes   []chan published
	dropped prometheus.Counter
	wg      sync.WaitGroup
	stop    chan struct{}
	once    sync.Once

	mu       sync.Mutex
	subs     map[*Subscription]struct{}
	topology *eventstream.Subscription
}

type published struct {
	topic string
	ev    *jobpb.Event
}

// NewEvents starts the publishing lanes; events of one topic keep their order (one lane per topic).
func NewEvents(c *pcluster.Cluster, log *slog.Logger, reg prometheus.Registerer) *Events {
	e := &Events{c: c, log: log, stop: make(chan struct{}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "dw_events_dropped_total", Help: "Live events dropped because a publishing lane was full or publishing failed."})}
	if reg != nil {
		reg.MustRegister(e.dropped)
	}
	e.subs = map[*Subscription]struct{}{}
	// A topic actor keeps its subscriptions in memory: when the topology changes it may move to
	// another node and forget them. Every subscription renews itself at once.
	e.topology = c.ActorSystem.EventStream.Subscribe(func(evt any) {
		if _, ok := evt.(*pcluster.ClusterTopology); ok {
			e.mu.Lock()
			for s := range e.subs {
				select {
				case s.kick <- struct{}{}:
				default:
				}
			}
			e.mu.Unlock()
		}
	})
	for range 4 {
		lane := make(chan published, 4096)
		e.lanes = append(e.lanes, lane)
		e.wg.Add(1)
		go e.run(lane)
	}
	return e
}

// run publishes a lane's events. What queued up while the last publish was under way goes out
// as one batch per topic, in order: one request to each topic actor instead of one per event.
func (e *Events) run(lane chan published) {
	defer e.wg.Done()
	var order []string // topics in the order their first event arrived
	batches := map[string]*pcluster.PubSubBatch{}
	for {
		select {
		case <-e.stop:
			return
		case p := <-lane:
			order = order[:0]
			clear(batches)
			add := func(p published) {
				b := batches[p.topic]
				if b == nil {
					b = &pcluster.PubSubBatch{}
					batches[p.topic] = b
					order = append(order, p.topic)
				}
				b.Envelopes = append(b.Envelopes, p.ev)
			}
			add(p)
		drain:
			for n := 1; n < maxEventBatch; n++ {
				select {
				case p := <-lane:
					add(p)
				default:
					break drain
				}
			}
			for _, topic := range order {
				e.publishBatch(topic, batches[topic])
			}
		}
	}
}

const maxEventBatch = 256

func (e *Events) publishBatch(topic string, b *pcluster.PubSubBatch) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := e.c.Publisher().PublishBatch(ctx, topic, b, pcluster.WithTimeout(2*time.Second)); err != nil {
		e.dropped.Add(float64(len(b.Envelopes)))
		e.log.Debug("publish events", "topic", topic, "events", len(b.Envelopes), "err", err)
	}
}

// Publish queues an event for a topic. It never blocks.
func (e *Events) Publish(topic string, ev *jobpb.Event) {
	if e == nil {
		return
	}
	if ev.AtUnixMicro == 0 {
		ev.AtUnixMicro = time.Now().UnixMicro()
	}
	h := fnv.New32a()
	h.Write([]byte(topic))
	select {
	case e.lanes[int(h.Sum32())%len(e.lanes)] <- published{topic, ev}:
	default:
		e.dropped.Inc()
	}
}

// Close stops publishing; queued events are dropped.
func (e *Events) Close() {
	if e == nil {
		return
	}
	e.once.Do(func() {
		e.c.ActorSystem.EventStream.Unsubscribe(e.topology)
		close(e.stop)
		e.wg.Wait()
	})
}

// Subscription receives the events of some topics on C until Close. After a cluster topology
// change it renews itself and sends an event of type "resync": events may have been lost in
// between, and the consumer should refetch the state it shows.
type Subscription struct {
	C      <-chan *jobpb.Event
	e      *Events
	pid    *actor.PID
	topics []string
	done   chan struct{}
	kick   chan struct{}
	once   sync.Once
}

// Subscribe subscribes a new local actor to topics. The topic actors keep subscriptions in
// memory only, so the subscription is renewed every few seconds (and so survives a topic actor
// moving to another node). Errors: unavailable when no topic actor answered.
func (e *Events) Subscribe(topics ...string) (*Subscription, error) {
	ch := make(chan *jobpb.Event, 256)
	done := make(chan struct{})
	pid := e.c.ActorSystem.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if ev, ok := ctx.Message().(*jobpb.Event); ok {
			select {
			case ch <- ev:
			case <-done:
			default: // a slow consumer loses events rather than stalling the topic
			}
		}
	}))
	s := &Subscription{C: ch, e: e, pid: pid, topics: topics, done: done, kick: make(chan struct{}, 1)}
	if err := s.subscribe(); err != nil {
		s.Close()
		return nil, err
	}
	e.mu.Lock()
	e.subs[s] = struct{}{}
	e.mu.Unlock()
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = s.subscribe()
			case <-s.kick:
				if s.subscribe() == nil {
					select {
					case ch <- &jobpb.Event{Type: "resync", AtUnixMicro: time.Now().UnixMicro()}:
					default:
					}
				}
			}
		}
	}()
	return s, nil
}

func (s *Subscription) subscribe() error {
	for _, t := range s.topics {
		if _, err := s.e.c.SubscribeByPid(t, s.pid, pcluster.WithTimeout(3*time.Second)); err != nil {
			return err
		}
	}
	return nil
}

// Close unsubscribes and stops the subscription's actor.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.e.mu.Lock()
		delete(s.e.subs, s)
		s.e.mu.Unlock()
		close(s.done)
		for _, t := range s.topics {
			_, _ = s.e.c.UnsubscribeByPid(t, s.pid, pcluster.WithTimeout(time.Second))
		}
		s.e.c.ActorSystem.Root.Stop(s.pid)
	})
}

// PublishQuotaEvents sends the quota thresholds recorded anywhere (by a node or by the CLI) and
// not yet published to their wallets' event streams and to AccountingTopic.
// Every node runs it; each event is claimed by one node and published once.
func PublishQuotaEvents(ctx context.Context, store *persistence.Store, e *Events) error {
	for {
		evs, err := store.ClaimQuotaEvents(ctx, 100)
		if err != nil || len(evs) == 0 {
			return err
		}
		for _, ev := range evs {
			data, _ := json.Marshal(ev)
			for _, topic := range []string{WalletTopic(ev.WalletID), AccountingTopic} {
				e.Publish(topic, &jobpb.Event{Type: "quota.threshold", WalletId: ev.WalletID,
					Data: string(data), AtUnixMicro: ev.CreatedAt.UnixMicro()})
			}
		}
	}
}
