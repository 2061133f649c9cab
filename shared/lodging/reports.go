package lodging

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/webhooks"
)

// Metric of the overdue reports, in CloudWatch Embedded Metric Format: the
// alarm LodgingOverdueReportsAlarm watches it (template.yaml).
const (
	MetricNamespace = "citycode/lodging"
	MetricOverdue   = "OverdueReports"
	MetricOldest    = "OldestOverdueSeconds"
)

// Reporter counts the city's police reports past their deadline without
// a receipt: a warning log line each, and one metric line.
type Reporter struct {
	store *Store
	out   io.Writer
	log   *slog.Logger
}

// NewReporter returns a Reporter writing its metric lines to out.
func NewReporter(store *Store, out io.Writer, log *slog.Logger) *Reporter {
	return &Reporter{store: store, out: out, log: log}
}

// Run counts once and answers the overdue reports.
func (r *Reporter) Run(ctx context.Context) ([]Report, error) {
	overdue, err := r.store.CityOverdue(ctx)
	if err != nil {
		return nil, err
	}
	now := r.store.now()
	var oldest time.Duration
	for _, rep := range overdue {
		late := now.Sub(rep.Due)
		oldest = max(oldest, late)
		r.log.WarnContext(ctx, "police report overdue", "hotel", rep.Hotel, "stay_id", rep.StayID, "registration_id", rep.RegistrationID,
			"kind", rep.Kind, "due", rep.Due, "overdue_seconds", int64(late/time.Second))
	}
	return overdue, r.emit(now, len(overdue), oldest)
}

// emit writes one EMF line: a JSON log event with an _aws member, from
// which CloudWatch makes the metrics (no dimensions: one city-wide series).
func (r *Reporter) emit(now time.Time, overdue int, oldest time.Duration) error {
	line, err := json.Marshal(map[string]any{
		"_aws": map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  MetricNamespace,
				"Dimensions": [][]string{{}},
				"Metrics":    []any{map[string]string{"Name": MetricOverdue, "Unit": "Count"}, map[string]string{"Name": MetricOldest, "Unit": "Seconds"}},
			}},
		},
		MetricOverdue: overdue,
		MetricOldest:  int64(oldest / time.Second),
	})
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(r.out, "%s\n", line); err != nil {
		return fmt.Errorf("lodging: write metric: %w", err)
	}
	return nil
}

// NewJob builds lodging-reports: every invocation (a schedule's tick)
// counts the overdue reports.
func NewJob(ctx context.Context, env app.Env) (app.JobHandler, error) {
	cfg, err := ConfigFrom(env)
	if err != nil {
		return nil, err
	}
	db, err := dynamo(ctx, env)
	if err != nil {
		return nil, err
	}
	store := NewStore(db, cfg.LodgingTable, "", nil, webhooks.NewReceiptStore(db, cfg.ReceiptsTable, nil), cfg.Policy)
	rep := NewReporter(store, os.Stdout, logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "lodging-reports"))
	return func(ctx context.Context, _ json.RawMessage) (any, error) {
		_, err := rep.Run(ctx)
		return nil, err
	}, nil
}
