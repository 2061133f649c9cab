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
	return eachJobTrigger(ctx, tmpl, jobs, envOf, func(fn samtemplate.Function, trig samtemplate.Trigger, build func() (app.JobHandler, error)) error {
		every, ok := trig.Every()
		if !ok {
			return nil
		}
		h, err := build()
		if err != nil {
			return err
		}
		go tick(ctx, fn.LogicalID, trig.Name, every, h, log)
		return nil
	})
}

// eachJobTrigger calls start for every trigger of every template job, with
// a build that makes the job's handler from its environment. start decides
// whether the trigger is its kind and builds only then.
func eachJobTrigger(ctx context.Context, tmpl *samtemplate.Template, jobs map[string]app.Job, envOf func(samtemplate.Function) map[string]string,
	start func(fn samtemplate.Function, trig samtemplate.Trigger, build func() (app.JobHandler, error)) error) error {
	for _, fn := range tmpl.Functions {
		job, ok := jobs[fn.LogicalID]
		if !ok {
			continue
		}
		build := func() (app.JobHandler, error) {
			env := envOf(fn)
			h, err := job(ctx, func(k string) string { return env[k] })
			if err != nil {
				return nil, fmt.Errorf("build %s: %w", fn.LogicalID, err)
			}
			return h, nil
		}
		for _, trig := range fn.Triggers {
			if err := start(fn, trig, build); err != nil {
				return err
			}
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
