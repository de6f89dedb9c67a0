package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/protos/jobpb"
	"github.com/divinewhispers/dw/protos/walletpb"
)

// LiveEvent is the standard shape of a live event on the WebSocket and SSE streams.
type LiveEvent struct {
	Type     string          `json:"type"` // job.status, job.progress, wallet.balance, hello, ping, resync (events may have been lost: refetch), session_revoked (SSE: the stream ends)
	JobID    string          `json:"job_id,omitempty"`
	WalletID string          `json:"wallet_id,omitempty"`
	Status   string          `json:"status,omitempty"`
	Progress json.RawMessage `json:"progress,omitempty"`
	Data     any             `json:"data,omitempty"`
	Seq      int64           `json:"seq,omitempty"`
	At       time.Time       `json:"at"`
}

func liveEvent(ev *jobpb.Event) LiveEvent {
	out := LiveEvent{Type: ev.Type, JobID: ev.JobId, WalletID: ev.WalletId, Status: ev.Status, Seq: ev.Seq,
		At: time.UnixMicro(ev.AtUnixMicro).UTC()}
	if ev.ProgressJson != "" {
		out.Progress = json.RawMessage(ev.ProgressJson)
	}
	switch {
	case ev.Data == "":
	case ev.Type != "job.progress" && json.Valid([]byte(ev.Data)):
		out.Data = json.RawMessage(ev.Data)
	default:
		out.Data = ev.Data // streamed model output
	}
	return out
}

// wsAuth authenticates a WebSocket upgrade: browsers cannot set headers on a WebSocket, so the
// access token may also come as the access_token query parameter.
func (s *Server) wsAuth(c *fiber.Ctx) error {
	token := c.Query("access_token")
	if scheme, t, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = t
	}
	if token == "" {
		return dw.Coded(dw.KindUnauthorized, "missing_token", "send Authorization: Bearer <access token> or ?access_token=")
	}
	claims, err := s.cfg.Issuer.Verify(token)
	if err != nil {
		return dw.Coded(dw.KindUnauthorized, "invalid_token", "the access token is invalid or expired; log in or refresh")
	}
	if err := s.cfg.Sessions.Check(c.UserContext(), claims); err != nil {
		return err
	}
	c.Locals(localUser, claims)
	if !websocket.IsWebSocketUpgrade(c) {
		return dw.Coded(dw.KindInvalid, "websocket_required", "this endpoint speaks WebSocket: send an Upgrade request")
	}
	if s.streams.full(claims.UserID, s.cfg.MaxStreamsPerUser) {
		return errTooManyStreams(s.cfg.MaxStreamsPerUser)
	}
	return c.Next()
}

// sessionEnded says whether the session of a live stream's token has ended (a failure to
// check is not an end: the stream is checked again at the next change).
func (s *Server) sessionEnded(claims *auth.Claims) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return dw.KindOf(s.cfg.Sessions.Check(ctx, claims)) == dw.KindUnauthorized
}

// ws streams the caller's job events and wallet balance events until it disconnects or its
// session ends (then it closes with 1008 policy violation, reason session_revoked). Events
// come through the cluster, so a job running on another node is seen here too.
func (s *Server) ws(conn *websocket.Conn) {
	claims, _ := conn.Locals(localUser).(*auth.Claims)
	if claims == nil || s.cfg.Events == nil {
		_ = conn.Close()
		return
	}
	if !s.streams.acquire(claims.UserID, s.cfg.MaxStreamsPerUser) { // opened at once past wsAuth's check
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "too_many_streams"), time.Now().Add(time.Second))
		_ = conn.Close()
		return
	}
	defer s.streams.release(claims.UserID)
	changed, stopWatch := s.cfg.Sessions.Watch(claims.UserID)
	defer stopWatch()
	topics := []string{actors.UserTopic(claims.UserID), actors.WalletTopic(claims.WalletID)}
	if claims.Role == "admin" || claims.Role == "operator" {
		topics = append(topics, actors.AccountingTopic) // quota thresholds of every wallet
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	shared, _ := s.cfg.Store.MemberWallets(ctx, claims.UserID) // on error: the personal wallet only
	cancel()
	for _, id := range shared {
		topics = append(topics, actors.WalletTopic(id))
	}
	sub, err := s.cfg.Events.Subscribe(topics...)
	if err != nil {
		_ = conn.WriteJSON(LiveEvent{Type: "error", Data: "live events are unavailable; retry", At: time.Now().UTC()})
		_ = conn.Close()
		return
	}
	defer sub.Close()
	closed := make(chan struct{})
	go func() { // reads only to notice the client leaving (and answer its control frames)
		defer close(closed)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	// The reader must be gone before this handler returns: fasthttp then reuses the
	// connection's buffers, which a reader still inside ReadMessage would race on.
	defer func() { _ = conn.Close(); <-closed }()
	watch := func() { // wallets publish balance events only while watched
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = s.cfg.Wallets.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_WATCH, WalletId: claims.WalletID})
	}
	watch()
	_ = conn.WriteJSON(LiveEvent{Type: "hello", WalletID: claims.WalletID, At: time.Now().UTC()})
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	rewatch := time.NewTicker(10 * time.Second)
	defer rewatch.Stop()
	for {
		select {
		case <-closed:
			return
		case <-rewatch.C:
			watch()
		case <-changed:
			if s.sessionEnded(claims) {
				_ = conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "session_revoked"), time.Now().Add(time.Second))
				return
			}
		case ev := <-sub.C:
			if err := conn.WriteJSON(liveEvent(ev)); err != nil {
				return
			}
		case <-ping.C:
			if err := conn.WriteJSON(LiveEvent{Type: "ping", At: time.Now().UTC()}); err != nil {
				return
			}
		}
	}
}

// jobEvents streams one job's events as Server-Sent Events: its current status first, then
// every change, until the job finishes, the client leaves or the caller's session ends (a last
// session_revoked event).
func (s *Server) jobEvents(c *fiber.Ctx) error {
	rec, err := s.ownJob(c)
	if err != nil {
		return err
	}
	if s.cfg.Events == nil {
		return dw.Errorf(dw.KindUnavailable, "live events are unavailable")
	}
	sub, err := s.cfg.Events.Subscribe(actors.UserTopic(rec.UserID))
	if err != nil {
		return &dw.Error{Kind: dw.KindUnavailable, Code: "unavailable", Message: "live events are unavailable; retry", Err: err}
	}
	// Read the status again now that we are subscribed, so no change falls between the two.
	if rec, err = s.cfg.Store.JobByID(c.UserContext(), rec.ID); err != nil {
		sub.Close()
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no")
	first := LiveEvent{Type: "job.status", JobID: rec.ID, WalletID: rec.WalletID, Status: string(rec.Status), At: time.Now().UTC()}
	done := rec.Status.Terminal()
	claims := claimsOf(c)
	changed, stopWatch := s.cfg.Sessions.Watch(claims.UserID)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer sub.Close()
		defer stopWatch()
		write := func(ev LiveEvent) bool {
			b, _ := json.Marshal(ev)
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, b); err != nil {
				return false
			}
			return w.Flush() == nil
		}
		if !write(first) || done {
			return
		}
		ping := time.NewTicker(15 * time.Second)
		defer ping.Stop()
		for {
			select {
			case <-changed:
				if s.sessionEnded(claims) {
					write(LiveEvent{Type: "session_revoked", At: time.Now().UTC()})
					return
				}
			case ev := <-sub.C:
				if ev.Type == "resync" { // events may have been lost: send the job's status as it is
					cur, err := s.cfg.Store.JobByID(context.Background(), rec.ID)
					if err != nil {
						continue
					}
					if !write(LiveEvent{Type: "job.status", JobID: cur.ID, WalletID: cur.WalletID, Status: string(cur.Status), At: time.Now().UTC()}) || cur.Status.Terminal() {
						return
					}
					continue
				}
				if ev.JobId != rec.ID {
					continue
				}
				if !write(liveEvent(ev)) {
					return
				}
				if ev.Type == "job.status" && (ev.Status == "completed" || ev.Status == "failed" || ev.Status == "cancelled") {
					return
				}
			case <-ping.C:
				if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || w.Flush() != nil {
					return
				}
			}
		}
	})
	return nil
}
