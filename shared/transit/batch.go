package transit

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/citycode/citycode/shared/httpapi"
	"github.com/citycode/citycode/shared/qrverify"
	"github.com/citycode/citycode/shared/scan"
)

// workers is how many codes are verified, and how many riders' taps are
// processed, at once within one batch.
const workers = 8

// Tap processes an online gate's tap: the code is checked now, and a rider
// who cannot pay is refused at a tap-in. An error means the tap could not
// be processed (storage); a refusal is a Result.
func (s *Service) Tap(ctx context.Context, t Tap, by qrverify.Scanner) (Result, error) {
	in, r := s.check(t, by, s.now())
	if r != nil {
		return *r, nil
	}
	sc, r, err := s.verify(ctx, in, true)
	if err != nil {
		return Result{}, err
	}
	if r != nil {
		// A retry of a tap accepted before, whose code has expired since,
		// is a duplicate, not a refusal.
		recs, err := s.store.taps(ctx, by.Org, []string{t.TapID})
		if err != nil {
			return Result{}, err
		}
		if rec := recs[t.TapID]; rec != nil {
			return rec.duplicate(t.TapID, in.fp)
		}
		return *r, nil
	}
	res, _, err := s.apply(ctx, in, sc, true, nil)
	return res, err
}

// Batch processes an offline gate's upload: every tap once, whatever the
// retries; codes checked as of each tap's time; each rider's taps in time
// order. The results are in the order of taps. An error means the batch
// stopped part way: what was done is recorded, and a retry answers it as
// duplicates.
func (s *Service) Batch(ctx context.Context, taps []Tap, by qrverify.Scanner) ([]Result, error) {
	now := s.now()
	results := make([]Result, len(taps))
	inputs := make([]input, len(taps))
	first := map[string]int{} // tap id → its first index in the batch
	var again, todo []int     // repeated tap ids; taps to process
	for i, t := range taps {
		if errs := validate(t); len(errs) > 0 {
			results[i] = refused(t.TapID, CodeInvalidTap, describe(errs))
			continue
		}
		if _, seen := first[t.TapID]; seen {
			again = append(again, i)
			continue
		}
		first[t.TapID] = i
		in, r := s.check(t, by, now)
		if r != nil {
			results[i] = *r
			continue
		}
		inputs[i] = in
		todo = append(todo, i)
	}

	// Taps processed before (a retried upload) are answered from their
	// records, and their codes not checked again.
	ids := make([]string, len(todo))
	for k, i := range todo {
		ids[k] = taps[i].TapID
	}
	recs, err := s.store.taps(ctx, by.Org, ids)
	if err != nil {
		return nil, err
	}
	var recErr error
	todo = slices.DeleteFunc(todo, func(i int) bool {
		rec := recs[taps[i].TapID]
		if rec == nil {
			return false
		}
		var err error
		results[i], err = rec.duplicate(taps[i].TapID, inputs[i].fp)
		recErr = cmp.Or(recErr, err)
		return true
	})
	if recErr != nil {
		return nil, recErr
	}

	scans := make([]scan.Scan, len(taps))
	var mu sync.Mutex
	riders := map[string][]int{}
	err = each(ctx, len(todo), func(k int) error {
		i := todo[k]
		sc, r, err := s.verify(ctx, inputs[i], false)
		if err != nil {
			return err
		}
		if r != nil {
			results[i] = *r
			return nil
		}
		scans[i] = sc
		mu.Lock()
		riders[sc.HolderID] = append(riders[sc.HolderID], i)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}

	queues := make([][]int, 0, len(riders))
	for _, q := range riders {
		slices.SortFunc(q, func(a, b int) int {
			return cmp.Or(inputs[a].at.Compare(inputs[b].at), cmp.Compare(a, b))
		})
		queues = append(queues, q)
	}
	err = each(ctx, len(queues), func(k int) error {
		var known *snapshot
		for _, i := range queues[k] {
			r, after, err := s.apply(ctx, inputs[i], scans[i], false, known)
			if err != nil {
				return err
			}
			results[i], known = r, after
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	for _, i := range again {
		j := first[taps[i].TapID]
		switch r := results[j]; {
		case fingerprint(taps[i]) != fingerprint(taps[j]):
			results[i] = refused(taps[i].TapID, CodeTapIDReused, "this tap_id was used before for a different tap")
		case r.Status == StatusRefused:
			results[i] = r
		default:
			r.Status = StatusDuplicate
			results[i] = r
		}
	}
	return results, nil
}

// describe joins field errors into one refusal's detail.
func describe(errs []httpapi.FieldError) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Field + ": " + e.Detail
	}
	return strings.Join(parts, "; ")
}

// each runs fn(0) … fn(n-1) on up to workers goroutines and returns the
// first error; after one, the rest are skipped.
func each(ctx context.Context, n int, fn func(k int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				if ctx.Err() != nil {
					continue
				}
				if err := fn(k); err != nil {
					cancel(err)
				}
			}
		}()
	}
	for k := range n {
		if ctx.Err() != nil {
			break
		}
		next <- k
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}
