package llmtest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/interpret/llmtest"
)

func post(t *testing.T, srv *llmtest.Server, stream bool) (*http.Response, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"model":  "m",
		"stream": stream,
		"messages": []map[string]string{
			{"role": "system", "content": "Copy lines from <poem_lines>."},
			{"role": "user", "content": "<poem_lines>\n甲\n乙\n丙\n丁\n</poem_lines>\n<question>\nq\n</question>"},
		},
	})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL()+"/chat/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestServerQueueAndRecording(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewServer(t)
	srv.Enqueue(llmtest.RateLimited(1500*time.Millisecond), llmtest.Status(502))

	resp, _ := post(t, srv, true)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("first: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, _ = post(t, srv, true); resp.StatusCode != 502 {
		t.Errorf("second: %d", resp.StatusCode)
	}
	resp, body := post(t, srv, true)
	if resp.StatusCode != 200 || !strings.HasSuffix(body, "data: [DONE]\n\n") || !strings.Contains(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Errorf("default OK stream: %d %q", resp.StatusCode, body)
	}
	_, body = post(t, srv, false)
	var whole struct {
		Choices []struct{ Message struct{ Content string } }
	}
	if err := json.Unmarshal([]byte(body), &whole); err != nil || len(whole.Choices) != 1 {
		t.Fatalf("whole answer %q: %v", body, err)
	}
	if got, want := whole.Choices[0].Message.Content, llmtest.Answer([]string{"甲", "乙", "丙", "丁"}); got != want {
		t.Errorf("answer %s, want %s", got, want)
	}
	if !strings.Contains(whole.Choices[0].Message.Content, `"poem_lines":["甲","丁"]`) {
		t.Errorf("answer does not rest on the prompt's lines: %s", whole.Choices[0].Message.Content)
	}
	if srv.Requests() != 4 || srv.Pending() != 0 {
		t.Errorf("%d requests, %d pending", srv.Requests(), srv.Pending())
	}
	last := srv.LastRequest()
	if last.Header.Get("Authorization") != "Bearer k" || last.Chat.Stream || len(last.Chat.PoemLines()) != 4 {
		t.Errorf("last request: %+v", last)
	}
}

func TestServerCloseReleasesHang(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewServer(t)
	srv.SetDefault(llmtest.Hang)
	done := make(chan struct{})
	go func() {
		defer close(done)
		body := strings.NewReader(`{"model":"m","messages":[]}`)
		resp, err := srv.Client().Post(srv.URL()+"/chat/completions", "application/json", body)
		if err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Requests() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	srv.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close left a hanging request")
	}
}
