package httpapi

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/citycode/citycode/shared/logging"
)

// Serve wraps a function's routes with what every request gets: a logger
// carrying the request id, panic recovery, a 404 problem for unknown routes,
// and one log line per request.
func Serve(log *slog.Logger, mux *http.ServeMux) http.Handler {
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, NewError(http.StatusNotFound, "route_not_found", "no such route"))
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqLog := log.With("request_id", requestID(r))
		r = r.WithContext(logging.WithLogger(r.Context(), reqLog))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				reqLog.Error("panic", "panic", v, "stack", string(debug.Stack()))
				if rec.status == 0 {
					WriteProblem(rec, r, internal)
				}
			}
			reqLog.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration_ms", time.Since(start).Milliseconds())
		}()
		mux.ServeHTTP(rec, r)
	})
}

func requestID(r *http.Request) string {
	if gw, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok && gw.RequestID != "" {
		return gw.RequestID
	}
	if lc, ok := lambdacontext.FromContext(r.Context()); ok {
		return lc.AwsRequestID
	}
	return ""
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
