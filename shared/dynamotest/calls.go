package dynamotest

import (
	"net/http"
	"strings"
	"sync"
)

// CallCounter is an http.RoundTripper that counts DynamoDB operations by
// name (the X-Amz-Target header) on their way to DynamoDB Local: give it to
// the SDK's client and to dynamolite's alike. Its zero value is ready.
type CallCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

// RoundTrip counts r's operation and sends r on.
func (c *CallCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[op]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// Take returns the calls counted since the last Take, by operation, and
// starts counting afresh.
func (c *CallCounter) Take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	if out == nil {
		out = map[string]int{}
	}
	c.calls = map[string]int{}
	return out
}
