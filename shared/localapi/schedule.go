package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/samtemplate"
)

// RunSchedules builds every template job that has a rate schedule and
// invokes it at that rate, as EventBridge Scheduler would, until ctx ends.
// Jobs on other triggers (streams, queues) and cron schedules are left to
// their own local runners.
func RunSchedules(ctx context.Context, tmpl *samtemplate.Template, jobs map[string]app.Job, envOf func(samtemplate.Function) map[string]string, log *slog.Logger) error {
	for _, fn := range tmpl.Functions {
		job, ok := jobs[fn.LogicalID]
		if !ok {
			continue
		}
		for _, trig := range fn.Triggers {
			every, ok := trig.Every()
			if !ok {
				continue
			}
			env := envOf(fn)
			h, err := job(ctx, func(k string) string { return env[k] })
			if err != nil {
				return fmt.Errorf("build %s: %w", fn.LogicalID, err)
			}
			go tick(ctx, fn.LogicalID, trig.Name, every, h, log)
		}
	}
	return nil
}

func tick(ctx context.Context, function, name string, every time.Duration, h app.JobHandler, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ev, _ := json.Marshal(map[string]any{"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
				"time": now.UTC().Format(time.RFC3339), "detail": map[string]any{}})
			if _, err := h(ctx, ev); err != nil {
				log.ErrorContext(ctx, "scheduled job failed", "function", function, "schedule", name, "error", err)
			}
		}
	}
}
