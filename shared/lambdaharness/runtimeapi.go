package lambdaharness

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// maxPayload is Lambda's limit on a synchronous response payload.
const maxPayload = 6 << 20

// routes is the Runtime API, plus the two Extensions API calls that
// aws-lambda-go's WithEnableSIGTERM makes.
func (h *Harness) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", h.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", h.response)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", h.invocationError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", h.initError)
	mux.HandleFunc("POST /2020-01-01/extension/register", h.registerExtension)
	mux.HandleFunc("GET /2020-01-01/extension/event/next", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // no events: blocks until the harness closes
	})
	return mux
}

// next blocks until an invocation is queued and answers its event.
func (h *Harness) next(w http.ResponseWriter, r *http.Request) {
	h.readyOnce.Do(func() {
		h.initDur = time.Since(h.started)
		close(h.ready)
	})
	var inv *invocation
	select {
	case inv = <-h.queue:
	case <-r.Context().Done():
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	hdr.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	hdr.Set("Lambda-Runtime-Invoked-Function-Arn", h.functionARN())
	hdr.Set("Lambda-Runtime-Trace-Id", traceID())
	_, _ = w.Write(inv.event)
}

func (h *Harness) functionARN() string {
	return fmt.Sprintf("arn:aws:lambda:%s:123456789012:function:%s", h.env["AWS_REGION"], h.env["AWS_LAMBDA_FUNCTION_NAME"])
}

// traceID is an X-Ray trace header in the format Lambda passes.
func traceID() string {
	root, parent := uuid.New(), uuid.New()
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0",
		time.Now().Unix(), hex.EncodeToString(root[:12]), hex.EncodeToString(parent[:8]))
}

func (h *Harness) response(w http.ResponseWriter, r *http.Request) {
	h.answer(w, r, func(body []byte) result {
		// aws-lambda-go reports an error met while streaming a response in trailers.
		if typ := r.Trailer.Get("Lambda-Runtime-Function-Error-Type"); typ != "" {
			b, _ := base64.StdEncoding.DecodeString(r.Trailer.Get("Lambda-Runtime-Function-Error-Body"))
			return result{err: functionError(typ, b)}
		}
		return result{payload: body}
	})
}

func (h *Harness) invocationError(w http.ResponseWriter, r *http.Request) {
	h.answer(w, r, func(body []byte) result {
		return result{err: functionError(r.Header.Get("Lambda-Runtime-Function-Error-Type"), body)}
	})
}

// answer hands an invocation's outcome, made from the request body, to the
// Invoke waiting for it.
func (h *Harness) answer(w http.ResponseWriter, r *http.Request, outcome func(body []byte) result) {
	id := r.PathValue("id")
	h.mu.Lock()
	inv := h.issued[id]
	delete(h.issued, id)
	h.mu.Unlock()
	if inv == nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestID", "unknown or already answered request id "+id)
		return
	}
	body, err := readPayload(w, r)
	if err != nil {
		inv.done <- result{err: fmt.Errorf("lambdaharness: reading the answer to invocation %s: %w", id, err)}
		return
	}
	inv.done <- outcome(body)
	accepted(w)
}

func (h *Harness) initError(w http.ResponseWriter, r *http.Request) {
	body, err := readPayload(w, r)
	if err != nil {
		return
	}
	h.mu.Lock()
	h.initErr = functionError(r.Header.Get("Lambda-Runtime-Function-Error-Type"), body)
	h.mu.Unlock()
	accepted(w)
}

func (h *Harness) registerExtension(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Lambda-Extension-Identifier", uuid.NewString())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"functionName":    h.env["AWS_LAMBDA_FUNCTION_NAME"],
		"functionVersion": h.env["AWS_LAMBDA_FUNCTION_VERSION"],
		"handler":         h.env["_HANDLER"],
	})
}

// functionError reads an error document as aws-lambda-go posts it.
func functionError(typ string, body []byte) *FunctionError {
	fe := &FunctionError{}
	if err := json.Unmarshal(body, fe); err != nil || (fe.Type == "" && fe.Message == "") {
		fe.Message = string(body)
	}
	if fe.Type == "" {
		fe.Type = typ
	}
	return fe
}

// readPayload reads a request body of at most maxPayload bytes; on failure
// it has answered the request with the Runtime API's error.
func readPayload(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		apiError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "payload larger than 6 MB")
		return nil, fmt.Errorf("payload larger than 6 MB: %w", err)
	case err != nil:
		apiError(w, http.StatusBadRequest, "InvalidRequest", "reading the payload failed")
		return nil, fmt.Errorf("read payload: %w", err)
	}
	return body, nil
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func apiError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(FunctionError{Type: typ, Message: msg})
}
