package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/citycode/citycode/shared/webhooks"
)

// The receiver verifies, prints and answers: the first request fails as
// told, the next is accepted, and a wrong signature is reported.
func TestReceiver(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	env := func(k string) string {
		if k == "WEBHOOK_SECRET" {
			return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		}
		return ""
	}
	go func() {
		done <- realMain(ctx, []string{"--port", "0", "--fail-first", "1", "--fail-status", "429", "--retry-after", "30s"}, env, pw, io.Discard)
		pw.Close()
	}()
	// The receiver prints before it answers: read its lines meanwhile.
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l := <-lines:
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("the receiver printed nothing")
			return ""
		}
	}
	_, rest, _ := strings.Cut(next(), "http://")
	url, _, _ := strings.Cut(rest, " ")

	key, err := webhooks.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"id": "e1", "type": "city.holder.enrolled.v1", "subject": "hdr_1", "sequence": "00000000000000000007"})
	send := func(signature string) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		req.Header.Set(webhooks.HeaderID, "e1")
		req.Header.Set(webhooks.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(webhooks.HeaderSignature, signature)
		if signature == "" {
			req.Header.Set(webhooks.HeaderSignature, webhooks.Sign(key, "e1", now, body))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i, tc := range []struct {
		signature  string
		status     int
		retryAfter string
		line       []string
	}{
		{"", 429, "30", []string{"#1 ", "id=e1 type=city.holder.enrolled.v1 subject=hdr_1 sequence=00000000000000000007", "signature=valid", "-> 429 (failing 1 of 1)"}},
		{"", 204, "", []string{"#2 ", "signature=valid", "-> 204"}},
		{"v1,bm9wZQ==", 204, "", []string{"#3 ", "signature=INVALID"}},
	} {
		resp := send(tc.signature)
		if resp.StatusCode != tc.status || resp.Header.Get("Retry-After") != tc.retryAfter {
			t.Errorf("request %d: %d, Retry-After %q; want %d, %q", i+1, resp.StatusCode, resp.Header.Get("Retry-After"), tc.status, tc.retryAfter)
		}
		line := next()
		for _, want := range tc.line {
			if !strings.Contains(line, want) {
				t.Errorf("request %d printed %q, want %q in it", i+1, line, want)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--secret", "whsec_!!"},
		{"--fail-first", "-1"},
		{"--fail-status", "200"},
		{"extra"},
	} {
		if _, _, err := parse(args, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
			t.Errorf("parse(%q) accepted", args)
		}
	}
}
