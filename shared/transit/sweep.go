package transit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/awsclient"
	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/fares"
	"github.com/citycode/citycode/shared/logging"
	"github.com/citycode/citycode/shared/outbox"
)

// The open-trips index of TransitTable (template.yaml): a rider's state
// item carries these two attributes while it holds an open metro trip, and
// only then, so the index lists exactly the open trips. Its partition is a
// shard of the holder id, not a time bucket, so that a rush hour's tap-ins
// spread over openShards partitions; its sort key is the tap-in time, so
// the sweep asks each shard for the trips opened before a cutoff, however
// old (a sweep that did not run for a while still finds them).
const (
	openTripsIndex = "open-trips"
	attrOpenShard  = "open_shard"
	attrOpenAt     = "open_at"
	openShards     = 16
)

// openShard is the holder's shard of the open-trips index.
func openShard(holderID string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(holderID))
	return shardName(int(h.Sum32() % openShards))
}

func shardName(n int) string { return fmt.Sprintf("OPEN#%02d", n) }

// overdue calls fn with each rider of shard whose open trip tapped in
// before cutoff, oldest first. The index is eventually consistent: fn
// reads the rider again before it acts.
func (s *Store) overdue(ctx context.Context, shard string, cutoff time.Time, fn func(holderID string) error) error {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		IndexName:              aws.String(openTripsIndex),
		KeyConditionExpression: aws.String("#shard = :shard AND #at < :cutoff"),
		ExpressionAttributeNames: map[string]string{
			"#shard": attrOpenShard, "#at": attrOpenAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":shard": ddb.S(shard), ":cutoff": ddb.S(cutoff.UTC().Format(skTime)),
		},
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("query open trips: %w", err)
		}
		for _, it := range out.Items {
			pk, ok := it["pk"].(*types.AttributeValueMemberS)
			if !ok || len(pk.Value) <= len(riderPK("")) {
				return fmt.Errorf("open-trips index: an item without a rider key")
			}
			if err := fn(pk.Value[len(riderPK("")):]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Sweeper closes the metro trips left open past the tap-out limit, for
// riders who do not tap again (the next tap-in would close them): at the
// maximum fare from the entry station, charged exactly once. The close is
// the same conditional write of the rider's state that a tap makes, so a
// tap-in or tap-out racing the sweep either closes the trip itself (the
// sweep then finds nothing open) or finds it closed.
type Sweeper struct {
	charger
	grace time.Duration
	log   *slog.Logger
	now   func() time.Time
}

// NewSweeper returns a Sweeper pricing on net and storing in store, which
// closes trips open longer than the tap-out limit plus grace (time for an
// offline exit gate's upload to arrive first).
func NewSweeper(net *fares.Engine, store *Store, grace time.Duration, log *slog.Logger) *Sweeper {
	return &Sweeper{charger: charger{net: net, store: store}, grace: grace, log: log, now: func() time.Time { return time.Now().UTC() }}
}

// SweepResult is what one sweep closed.
type SweepResult struct {
	Closed     int   `json:"closed"`
	ChargedFen int64 `json:"charged_fen"`
	UnpaidFen  int64 `json:"unpaid_fen"`
}

// Run closes every trip that tapped in longer ago than the limit and the
// grace. Each close is its own transaction: a run cut short (an error, the
// function's timeout) leaves the rest for the next run.
func (s *Sweeper) Run(ctx context.Context) (SweepResult, error) {
	cutoff := s.now().Add(-(s.net.TapOutLimit() + s.grace))
	var (
		mu  sync.Mutex
		res SweepResult
	)
	err := each(ctx, openShards, func(k int) error {
		return s.store.overdue(ctx, shardName(k), cutoff, func(holderID string) error {
			trip, err := s.close(ctx, holderID, cutoff)
			if err != nil || trip == nil {
				return err
			}
			s.log.InfoContext(ctx, "trip closed without a tap-out", "holder_id", holderID, "trip_id", trip.TripID,
				"entry_stop", trip.Entry.StopID, "tapped_in", trip.Entry.At, "charged_fen", trip.Fare.ChargedFen, "unpaid_fen", trip.UnpaidFen)
			mu.Lock()
			defer mu.Unlock()
			res.Closed++
			res.ChargedFen += trip.Fare.ChargedFen
			res.UnpaidFen += trip.UnpaidFen
			return nil
		})
	})
	s.log.InfoContext(ctx, "sweep of open trips", "cutoff", cutoff, "closed", res.Closed, "charged_fen", res.ChargedFen,
		"unpaid_fen", res.UnpaidFen, "error", err)
	return res, err
}

// close closes holderID's open trip if it tapped in before cutoff, and
// answers the trip it closed (nil: none, e.g. a tap closed it first).
func (s *Sweeper) close(ctx context.Context, holderID string, cutoff time.Time) (*Trip, error) {
	for attempt := 1; ; attempt++ {
		snap, err := s.store.read(ctx, holderID, "", "")
		if err != nil && !isContention(err) {
			return nil, err
		}
		if err == nil {
			if o := snap.state.Open; o == nil || !o.At.Before(cutoff) {
				return nil, nil
			}
			c := &change{holderID: holderID, state: snap.state}
			trip, err := s.closeMissing(c, holderID)
			if err != nil {
				return nil, err
			}
			c.result.TripID = trip.TripID
			if _, _, err := s.settle(c, snap.account); err != nil {
				return nil, err
			}
			err = s.store.commit(ctx, snap, c)
			if err == nil {
				return c.result.Trip, nil
			}
			if !errors.Is(err, errContention) {
				return nil, err
			}
		}
		if err := backoff(ctx, attempt, "sweep of "+holderID); err != nil {
			return nil, err
		}
	}
}

// SweepConfig is transit-sweep's configuration, from its environment.
type SweepConfig struct {
	TransitTable  string        // TRANSIT_TABLE
	HoldersTable  string        // HOLDERS_TABLE
	GTFSDir       string        // TRANSIT_GTFS_DIR
	FareRulesFile string        // FARE_RULES_FILE
	Grace         time.Duration // TRANSIT_SWEEP_GRACE, default 1h, 0 … MaxAge
	Events        outbox.Config
}

// SweepConfigFrom reads the sweep's configuration from env.
func SweepConfigFrom(env app.Env) (SweepConfig, error) {
	c := SweepConfig{TransitTable: env("TRANSIT_TABLE"), HoldersTable: env("HOLDERS_TABLE"), GTFSDir: env("TRANSIT_GTFS_DIR"),
		FareRulesFile: env("FARE_RULES_FILE")}
	if c.TransitTable == "" || c.HoldersTable == "" || c.GTFSDir == "" || c.FareRulesFile == "" {
		return SweepConfig{}, errors.New("TRANSIT_TABLE, HOLDERS_TABLE, TRANSIT_GTFS_DIR and FARE_RULES_FILE must be set")
	}
	grace, err := time.ParseDuration(env.Lookup("TRANSIT_SWEEP_GRACE", "1h"))
	if err != nil || grace < 0 || grace > MaxAge {
		return SweepConfig{}, fmt.Errorf("TRANSIT_SWEEP_GRACE must be a duration from 0s to %s", MaxAge)
	}
	c.Grace = grace
	if c.Events, err = outbox.ConfigFrom(env); err != nil {
		return SweepConfig{}, err
	}
	return c, nil
}

// NewSweepJob builds transit-sweep: every invocation (a schedule's tick)
// closes the trips left open and answers what it closed.
func NewSweepJob(ctx context.Context, env app.Env) (app.JobHandler, error) {
	cfg, err := SweepConfigFrom(env)
	if err != nil {
		return nil, err
	}
	net, err := fares.Load(cfg.GTFSDir, cfg.FareRulesFile)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsclient.Config(ctx, env)
	if err != nil {
		return nil, err
	}
	db := awsclient.DynamoDB(awsCfg, env)
	store := NewStore(db, cfg.TransitTable, cfg.HoldersTable, "", outbox.New(db, cfg.Events.Table, cfg.Events.Retention))
	sw := NewSweeper(net, store, cfg.Grace, logging.New(os.Stdout, env("LOG_LEVEL")).With("function", "transit-sweep"))
	return func(ctx context.Context, _ json.RawMessage) (any, error) {
		return sw.Run(ctx)
	}, nil
}
