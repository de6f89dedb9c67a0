package interpret

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults for LLMConfig.
const (
	DefaultLLMTimeout       = 2 * time.Minute
	DefaultMaxResponseBytes = 1 << 20
)

// LLMConfig configures an OpenAI-compatible chat-completions server: OpenAI, Ollama, vLLM or
// llama.cpp's server.
type LLMConfig struct {
	BaseURL string // up to the API version, e.g. "https://api.openai.com/v1", "http://localhost:11434/v1"
	Model   string // e.g. "gpt-4o-mini", "qwen2.5:7b"
	APIKey  string // sent as a bearer token when set; never logged nor put in errors

	HTTPClient       *http.Client  // nil: a client of its own
	Timeout          time.Duration // for one attempt, streaming included; 0: DefaultLLMTimeout
	MaxTokens        int           // 0: the server's default
	JSONMode         bool          // ask for response_format json_object (OpenAI, vLLM, llama.cpp, Ollama support it)
	MaxResponseBytes int64         // cap on the response body; 0: DefaultMaxResponseBytes
}

// LLM interprets with a language model over the chat-completions API, streaming its answer.
// It is safe for concurrent use.
type LLM struct {
	endpoint string
	cfg      LLMConfig
	client   *http.Client
}

// NewLLM checks cfg and returns the client. Errors: invalid_request (permanent) for a missing
// model or a base URL that is not http(s).
func NewLLM(cfg LLMConfig) (*LLM, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, permanent(CodeInvalidRequest, "LLM base URL must be an http(s) URL such as http://localhost:11434/v1", nil)
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, permanent(CodeInvalidRequest, "LLM model is required", nil)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultLLMTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	return &LLM{endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/chat/completions", cfg: cfg, client: client}, nil
}

// Name returns "llm:" and the model name.
func (c *LLM) Name() string { return "llm:" + c.cfg.Model }

// Interpret asks the model once, forwarding its streamed text to progress, and parses the JSON
// reading it answers. Errors, each an *Error:
//   - invalid_request (permanent): the request does not validate;
//   - llm_rejected (permanent): the server answered 400, 401, 403, 404 or another 4xx;
//   - llm_rate_limited (retryable): 429, with RetryAfter when the server said how long;
//   - llm_unavailable (retryable): 5xx (with RetryAfter if sent), a failed connection, an error
//     event or a stream cut before its end;
//   - llm_timeout (retryable): the attempt's Timeout or ctx's deadline passed;
//   - llm_bad_output (retryable): the answer is empty, too large, not JSON or not a valid reading;
//   - canceled (retryable): ctx was cancelled.
func (c *LLM) Interpret(ctx context.Context, req Request, progress Progress) (Result, error) {
	if err := req.Validate(); err != nil {
		return Result{}, err
	}
	if progress == nil {
		progress = func(string) {}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.Timeout, errAttemptTimeout)
	defer cancel()

	body, err := json.Marshal(chatRequest{
		Model:          c.cfg.Model,
		Messages:       buildMessages(req),
		Stream:         true,
		MaxTokens:      c.cfg.MaxTokens,
		ResponseFormat: c.responseFormat(),
	})
	if err != nil {
		return Result{}, permanent(CodeInvalidRequest, "cannot encode the request", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return Result{}, permanent(CodeInvalidRequest, "cannot build the request", c.scrub(err))
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream, application/json")
	if c.cfg.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}

	resp, err := c.client.Do(hreq)
	if err != nil {
		return Result{}, c.transportError(ctx, "cannot reach the model server", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Result{}, c.statusError(resp)
	}

	body2 := &limitedReader{r: resp.Body, n: c.cfg.MaxResponseBytes}
	content, finish, err := c.readAnswer(resp.Header.Get("Content-Type"), body2, progress)
	if err != nil {
		if body2.exceeded {
			return Result{}, retryable(CodeBadOutput, "the model's answer is too large", nil)
		}
		var e *Error
		if errors.As(err, &e) {
			return Result{}, e
		}
		return Result{}, c.transportError(ctx, "the model's answer was cut off", err)
	}
	if strings.TrimSpace(content) == "" {
		return Result{}, retryable(CodeBadOutput, "the model answered nothing", nil)
	}
	res, err := parseResult(content, req.Poem, req.Language, c.cfg.Model)
	if err != nil {
		msg := "the model's answer is not a valid reading"
		if finish == "length" {
			msg = "the model's answer was cut at its token limit"
		}
		return Result{}, retryable(CodeBadOutput, msg, c.scrub(err))
	}
	return res, nil
}

var errAttemptTimeout = errors.New("attempt timed out")

func (c *LLM) responseFormat() *responseFormat {
	if c.cfg.JSONMode {
		return &responseFormat{Type: "json_object"}
	}
	return nil
}

// readAnswer reads a streamed (SSE) or whole (JSON) answer, whichever the server chose.
func (c *LLM) readAnswer(contentType string, body io.Reader, progress Progress) (content, finish string, err error) {
	br := bufio.NewReader(body)
	mt, _, _ := mime.ParseMediaType(contentType)
	sse := mt == "text/event-stream"
	if mt != "text/event-stream" && mt != "application/json" {
		// Sniff: a JSON answer starts with '{', a stream with "data:" or a comment.
		for {
			b, err := br.Peek(1)
			if err != nil {
				break
			}
			if b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n' {
				_, _ = br.ReadByte()
				continue
			}
			sse = b[0] != '{'
			break
		}
	}
	if sse {
		return c.readStream(br, progress)
	}
	return c.readWhole(br, progress)
}

// readStream reads server-sent events until "data: [DONE]". A stream that ends without it is
// cut short, unless a choice already said why it finished.
func (c *LLM) readStream(r *bufio.Reader, progress Progress) (string, string, error) {
	var content strings.Builder
	var data strings.Builder
	hasData, finish := false, ""
	// dispatch handles one event's data; done reports [DONE].
	dispatch := func() (done bool, err error) {
		d := data.String()
		data.Reset()
		hasData = false
		if strings.TrimSpace(d) == "[DONE]" {
			return true, nil
		}
		var ch streamChunk
		if err := json.Unmarshal([]byte(d), &ch); err != nil {
			return false, retryable(CodeBadOutput, "the model server sent a malformed stream event", c.scrub(err))
		}
		if ch.Error != nil {
			return false, retryable(CodeUnavailable, "the model server reported an error mid-stream", c.scrub(errors.New(ch.Error.text())))
		}
		for _, choice := range ch.Choices {
			if choice.Index != 0 {
				continue
			}
			if delta := choice.Delta.Content; delta != "" {
				content.WriteString(delta)
				progress(delta)
			}
			if choice.FinishReason != nil && *choice.FinishReason != "" {
				finish = *choice.FinishReason
			}
		}
		return false, nil
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			if errors.Is(err, io.EOF) {
				if hasData {
					if done, derr := dispatch(); derr != nil || done {
						return content.String(), finish, derr
					}
				}
				if finish != "" {
					return content.String(), finish, nil
				}
				return "", finish, retryable(CodeUnavailable, "the model's stream ended before it was done", nil)
			}
			return "", finish, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if hasData {
				if done, err := dispatch(); err != nil || done {
					return content.String(), finish, err
				}
			}
		case strings.HasPrefix(line, ":"): // a comment, e.g. a keep-alive
		default:
			field, value, _ := strings.Cut(line, ":")
			if field == "data" {
				if hasData {
					data.WriteByte('\n')
				}
				data.WriteString(strings.TrimPrefix(value, " "))
				hasData = true
			}
		}
	}
}

// readWhole reads a non-streamed completion, for servers that ignore "stream".
func (c *LLM) readWhole(r io.Reader, progress Progress) (string, string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", "", err
	}
	var cmp completion
	if err := json.Unmarshal(b, &cmp); err != nil {
		return "", "", retryable(CodeBadOutput, "the model server's answer is not JSON", c.scrub(err))
	}
	if cmp.Error != nil {
		return "", "", retryable(CodeUnavailable, "the model server reported an error", c.scrub(errors.New(cmp.Error.text())))
	}
	if len(cmp.Choices) == 0 {
		return "", "", retryable(CodeBadOutput, "the model server's answer has no choices", nil)
	}
	ch := cmp.Choices[0]
	if ch.Message.Content != "" {
		progress(ch.Message.Content)
	}
	finish := ""
	if ch.FinishReason != nil {
		finish = *ch.FinishReason
	}
	return ch.Message.Content, finish, nil
}

// statusError classifies a non-2xx answer.
func (c *LLM) statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	detail := errorDetail(b)
	cause := c.scrub(fmt.Errorf("HTTP %d: %s", resp.StatusCode, detail))
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		e := retryable(CodeRateLimited, "the model server is rate limiting requests", cause)
		e.RetryAfter = retryAfter(resp.Header, time.Now())
		return e
	case s == http.StatusRequestTimeout:
		return retryable(CodeTimeout, "the model server timed out", cause)
	case s >= 500:
		e := retryable(CodeUnavailable, "the model server is unavailable", cause)
		e.RetryAfter = retryAfter(resp.Header, time.Now())
		return e
	default:
		return permanent(CodeRejected, "the model server rejected the request", cause)
	}
}

// transportError classifies a failure to connect or to read: the attempt's own timeout or ctx's
// deadline, ctx's cancellation, a network timeout, else the server being unreachable.
func (c *LLM) transportError(ctx context.Context, msg string, err error) error {
	var ne net.Error
	switch {
	case errors.Is(context.Cause(ctx), errAttemptTimeout):
		return retryable(CodeTimeout, fmt.Sprintf("the model did not answer within %s", c.cfg.Timeout), c.scrub(err))
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return retryable(CodeTimeout, "the model did not answer in time", c.scrub(err))
	case errors.Is(ctx.Err(), context.Canceled):
		return retryable(CodeCanceled, "the interpretation was cancelled", c.scrub(err))
	case errors.As(err, &ne) && ne.Timeout():
		return retryable(CodeTimeout, "the model server timed out", c.scrub(err))
	}
	return retryable(CodeUnavailable, msg, c.scrub(err))
}

// scrub hides the API key in err's text while keeping err's chain for errors.Is. The text is
// scrubbed at once, so that the error value never holds the key.
func (c *LLM) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if c.cfg.APIKey != "" {
		msg = strings.ReplaceAll(msg, c.cfg.APIKey, "[redacted]")
	}
	return &scrubbed{err: err, msg: msg}
}

type scrubbed struct {
	err error
	msg string
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }

// retryAfter reads Retry-After (seconds or an HTTP date) or OpenAI's retry-after-ms.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e10 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 || s > 1e7 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}

// errorDetail is the message of an OpenAI-style error body, or the start of the body.
func errorDetail(b []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && len(e.Error) > 0 {
		var ae apiError
		if json.Unmarshal(e.Error, &ae) == nil {
			return ae.text()
		}
		var s string
		if json.Unmarshal(e.Error, &s) == nil {
			return truncateRunes(s, 300)
		}
	}
	return truncateRunes(strings.TrimSpace(strings.ToValidUTF8(string(b), "")), 300)
}

// limitedReader fails once more than n bytes have been read.
type limitedReader struct {
	r        io.Reader
	n        int64
	exceeded bool
}

var errTooLarge = errors.New("response too large")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One more byte tells a body of exactly n bytes from a longer one.
		var one [1]byte
		k, err := l.r.Read(one[:])
		if k > 0 {
			l.exceeded = true
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

// The chat-completions wire format, as much of it as we use.
type (
	chatMessage struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	responseFormat struct {
		Type string `json:"type"`
	}
	chatRequest struct {
		Model          string          `json:"model"`
		Messages       []chatMessage   `json:"messages"`
		Stream         bool            `json:"stream"`
		MaxTokens      int             `json:"max_tokens,omitempty"`
		ResponseFormat *responseFormat `json:"response_format,omitempty"`
	}
	apiError struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    any    `json:"code"`
	}
	streamChunk struct {
		Choices []struct {
			Index int `json:"index"`
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Error *apiError `json:"error"`
	}
	completion struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Error *apiError `json:"error"`
	}
)

func (e *apiError) text() string {
	s := e.Message
	if e.Type != "" {
		s = e.Type + ": " + s
	}
	return truncateRunes(s, 300)
}
