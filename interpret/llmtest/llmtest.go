// Package llmtest is a fake OpenAI-compatible chat-completions server for tests: a real
// httptest.Server that answers POST /v1/chat/completions, streamed (SSE) or whole, and
// misbehaves on demand.
//
// A test scripts the server with a queue of Behaviors, one consumed per request; when the queue
// is empty the default behavior (OK unless SetDefault says otherwise) answers. OK builds a valid
// reading from the poem lines it finds in the prompt's <poem_lines> block, so that the client's
// validation passes. The server counts requests and keeps the last one, so that a test can check
// the prompt and the Authorization header:
//
//	srv := llmtest.NewServer(t)
//	srv.Enqueue(llmtest.RateLimited(2*time.Second), llmtest.CutStream, llmtest.OK)
//	llm, _ := interpret.NewLLM(interpret.LLMConfig{BaseURL: srv.URL(), Model: "test", APIKey: "sk-test"})
//	// first attempt: llm_rate_limited with RetryAfter 2s; second: llm_unavailable; third: a reading.
//
// The server is safe for concurrent requests.
package llmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Behavior is how the server answers one request. Build one with the variables and functions
// below; the zero value is OK.
type Behavior struct {
	kind       kind
	status     int
	retryAfter string
	content    string
	delay      time.Duration
}

type kind int

const (
	kindOK kind = iota
	kindStatus
	kindRateLimited
	kindHang
	kindCutStream
	kindContent
	kindMalformed
	kindProse
	kindEmpty
	kindWrongLines
	kindWhole
	kindUnauthorized
	kindStreamError
)

// The behaviors.
var (
	// OK streams a valid reading built from the prompt's poem lines, then [DONE]; a request
	// with "stream": false gets it whole.
	OK = Behavior{kind: kindOK}
	// Whole answers a valid reading as one JSON completion even when streaming was asked for,
	// like a server that ignores "stream".
	Whole = Behavior{kind: kindWhole}
	// Status500 answers 500 with an OpenAI-style error body.
	Status500 = Behavior{kind: kindStatus, status: http.StatusInternalServerError}
	// Unauthorized answers 401 with an error that echoes the bearer token, as some servers do;
	// the client must not pass the key on.
	Unauthorized = Behavior{kind: kindUnauthorized}
	// Hang sends nothing until the client gives up (or the server closes).
	Hang = Behavior{kind: kindHang}
	// CutStream streams part of a valid reading, then drops the connection.
	CutStream = Behavior{kind: kindCutStream}
	// MalformedJSON streams a reading whose JSON breaks off.
	MalformedJSON = Behavior{kind: kindMalformed}
	// Prose streams a valid reading inside ```json fences with prose around it.
	Prose = Behavior{kind: kindProse}
	// EmptyContent streams no text at all, then [DONE].
	EmptyContent = Behavior{kind: kindEmpty}
	// WrongLines streams well-formed JSON whose poem_lines are not lines of the poem.
	WrongLines = Behavior{kind: kindWrongLines}
	// StreamError streams an error event ({"error": {...}}) instead of text.
	StreamError = Behavior{kind: kindStreamError}
)

// Status answers the HTTP status code with an OpenAI-style error body.
func Status(code int) Behavior { return Behavior{kind: kindStatus, status: code} }

// RateLimited answers 429 with Retry-After in whole seconds (rounded up; none when d ≤ 0).
func RateLimited(d time.Duration) Behavior {
	b := Behavior{kind: kindRateLimited}
	if d > 0 {
		b.retryAfter = strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
	}
	return b
}

// RateLimitedHeader answers 429 with the Retry-After header exactly as given, e.g. an HTTP date.
func RateLimitedHeader(retryAfter string) Behavior {
	return Behavior{kind: kindRateLimited, retryAfter: retryAfter}
}

// Content streams the given text as the model's answer, then [DONE].
func Content(text string) Behavior { return Behavior{kind: kindContent, content: text} }

// Slow is b with a pause before each streamed chunk.
func (b Behavior) Slow(perChunk time.Duration) Behavior {
	b.delay = perChunk
	return b
}

func (b Behavior) String() string {
	switch b.kind {
	case kindOK:
		return "OK"
	case kindWhole:
		return "Whole"
	case kindStatus:
		return "Status(" + strconv.Itoa(b.status) + ")"
	case kindRateLimited:
		return "RateLimited(" + b.retryAfter + ")"
	case kindHang:
		return "Hang"
	case kindCutStream:
		return "CutStream"
	case kindContent:
		return "Content"
	case kindMalformed:
		return "MalformedJSON"
	case kindProse:
		return "Prose"
	case kindEmpty:
		return "EmptyContent"
	case kindWrongLines:
		return "WrongLines"
	case kindUnauthorized:
		return "Unauthorized"
	case kindStreamError:
		return "StreamError"
	}
	return "Behavior(" + strconv.Itoa(int(b.kind)) + ")"
}

// Request is a request the server received.
type Request struct {
	Header http.Header
	Body   []byte      // as sent
	Chat   ChatRequest // Body decoded
}

// ChatRequest is the part of a chat-completions request the server reads.
type ChatRequest struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	MaxTokens      int             `json:"max_tokens,omitempty"`
	ResponseFormat json.RawMessage `json:"response_format,omitempty"`
}

// Prompt is the content of every message, joined by blank lines.
func (c ChatRequest) Prompt() string {
	parts := make([]string, len(c.Messages))
	for i, m := range c.Messages {
		parts[i] = m.Content
	}
	return strings.Join(parts, "\n\n")
}

// PoemLines are the lines of the prompt's last <poem_lines> block: the tag alone on a line, a
// poem line per line, then </poem_lines>.
func (c ChatRequest) PoemLines() []string {
	p := c.Prompt()
	i := strings.LastIndex(p, "<poem_lines>\n")
	if i < 0 {
		return nil
	}
	block, _, _ := strings.Cut(p[i+len("<poem_lines>\n"):], "</poem_lines>")
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// Server is the fake chat-completions server.
type Server struct {
	srv     *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu       sync.Mutex
	queue    []Behavior
	def      Behavior
	requests int
	last     Request
}

// NewServer starts a server that t's cleanup closes.
func NewServer(t testing.TB) *Server {
	s := &Server{closing: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.handle)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// URL is the base URL to configure a client with, ending in /v1.
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Enqueue appends behaviors for the next requests, one each.
func (s *Server) Enqueue(b ...Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, b...)
}

// SetDefault sets how requests are answered once the queue is empty.
func (s *Server) SetDefault(b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def = b
}

// Pending is how many queued behaviors are not yet consumed.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Requests is how many requests the server has received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// LastRequest is the latest request received (the zero Request before any).
func (s *Server) LastRequest() Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Close releases hanging requests and shuts the server down. It is idempotent.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	req := Request{Header: r.Header.Clone(), Body: body}
	decodeErr := json.Unmarshal(body, &req.Chat)

	s.mu.Lock()
	s.requests++
	s.last = req
	b := s.def
	if len(s.queue) > 0 {
		b = s.queue[0]
		s.queue = s.queue[1:]
	}
	s.mu.Unlock()

	if decodeErr != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "request body is not JSON: "+decodeErr.Error())
		return
	}
	lines := req.Chat.PoemLines()
	switch b.kind {
	case kindStatus:
		writeError(w, b.status, "server_error", "the fake server was told to fail")
	case kindRateLimited:
		if b.retryAfter != "" {
			w.Header().Set("Retry-After", b.retryAfter)
		}
		writeError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "Rate limit reached. Please try again later.")
	case kindUnauthorized:
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "Incorrect API key provided: "+key+".")
	case kindHang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
	case kindWhole:
		writeWhole(w, req.Chat.Model, Answer(lines))
	case kindOK:
		if !req.Chat.Stream {
			writeWhole(w, req.Chat.Model, Answer(lines))
			return
		}
		s.stream(w, r, b, req.Chat.Model, Answer(lines), true)
	case kindCutStream:
		a := Answer(lines)
		s.stream(w, r, b, req.Chat.Model, a[:len(a)/2], false)
		panic(http.ErrAbortHandler) // drop the connection without ending the response
	case kindContent:
		s.stream(w, r, b, req.Chat.Model, b.content, true)
	case kindMalformed:
		a := Answer(lines)
		s.stream(w, r, b, req.Chat.Model, a[:len(a)*2/3], true)
	case kindProse:
		s.stream(w, r, b, req.Chat.Model, "Here is your reading, with care:\n\n```json\n"+Answer(lines)+"\n```\n\nMay it bring you clarity.", true)
	case kindEmpty:
		s.stream(w, r, b, req.Chat.Model, "", true)
	case kindWrongLines:
		s.stream(w, r, b, req.Chat.Model, Answer([]string{"床前明月光", "疑是地上霜"}), true)
	case kindStreamError:
		startStream(w)
		fmt.Fprint(w, `data: {"error":{"message":"the model crashed","type":"server_error"}}`+"\n\n")
	}
}

// Answer is the reading OK answers for a prompt with these poem lines: valid JSON with every
// Result field, resting on the first and last of them.
func Answer(lines []string) string {
	var rest []string
	switch len(lines) {
	case 0:
	case 1:
		rest = lines
	default:
		rest = []string{lines[0], lines[len(lines)-1]}
	}
	b, _ := json.Marshal(map[string]any{
		"summary": "The lot speaks of clouds parting after a long wait: keep to your course, and what you hope for will come in its season.",
		"aspects": []map[string]string{
			{"name": "Career", "guidance": "Your effort is seen; keep steady and let results speak."},
			{"name": "Timing", "guidance": "Not today, but soon: prepare now so you are ready."},
		},
		"advice":     []string{"Finish what you have started before you take on more.", "Talk openly with the people involved."},
		"cautions":   []string{"Do not make a big decision in a hurry."},
		"poem_lines": rest,
	})
	return string(b)
}

func startStream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
}

// stream sends text as chat.completion.chunk events of a few runes each, then, when done is
// set, a finish chunk and [DONE].
func (s *Server) stream(w http.ResponseWriter, r *http.Request, b Behavior, model, text string, done bool) {
	startStream(w)
	flusher, _ := w.(http.Flusher)
	send := func(delta map[string]any, finish any) {
		chunk := map[string]any{
			"id":      "chatcmpl-fake",
			"object":  "chat.completion.chunk",
			"created": 1700000000,
			"model":   model,
			"choices": []map[string]any{{"index": 0, "delta": delta, "finish_reason": finish}},
		}
		j, _ := json.Marshal(chunk)
		fmt.Fprintf(w, "data: %s\n\n", j)
		if flusher != nil {
			flusher.Flush()
		}
	}
	send(map[string]any{"role": "assistant", "content": ""}, nil)
	for _, piece := range chunks(text, 24) {
		if b.delay > 0 {
			select {
			case <-time.After(b.delay):
			case <-r.Context().Done():
				return
			case <-s.closing:
				return
			}
		}
		send(map[string]any{"content": piece}, nil)
	}
	if !done {
		return
	}
	send(map[string]any{}, "stop")
	fmt.Fprint(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
}

// chunks splits s into pieces of at most n runes.
func chunks(s string, n int) []string {
	var out []string
	for s != "" {
		i, k := 0, 0
		for i < len(s) && k < n {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			k++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

func writeWhole(w http.ResponseWriter, model, text string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id":      "chatcmpl-fake",
		"object":  "chat.completion",
		"created": 1700000000,
		"model":   model,
		"choices": []map[string]any{{
			"index":         0,
			"message":       map[string]string{"role": "assistant", "content": text},
			"finish_reason": "stop",
		}},
	})
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": map[string]any{"message": msg, "type": typ, "code": nil},
	})
}
