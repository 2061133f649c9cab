package subscriptions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/citycode/citycode/shared/outbox"
)

const (
	police    = "police-demo"
	transport = "transport-commission-demo"
	welfare   = "social-security-demo"
	enrolled  = "city.holder.enrolled.v1"
)

func mustCreate(t *testing.T, s *Store, org string, types ...string) Subscription {
	t.Helper()
	sub, err := s.Create(t.Context(), org, "https://hooks."+org+".example/in", types)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func ids(subs []Subscription) []string {
	out := []string{}
	for _, s := range subs {
		out = append(out, s.ID)
	}
	return out
}

func TestStoreLifecycle(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()

	a := mustCreate(t, s, police, enrolled)
	if a.Status != StatusActive || len(a.Secrets) != 1 || len(a.Secrets[0].Key) != 32 || !a.Secrets[0].ExpiresAt.IsZero() {
		t.Fatalf("created %+v", a)
	}
	got, err := s.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("Get (-created +got):\n%s", diff)
	}

	// Update: pause, change the endpoint and the types, in one write.
	paused, endpoint := StatusPaused, "https://hooks.police.example/v2"
	up, err := s.Update(ctx, police, a.ID, Update{Status: &paused, Endpoint: &endpoint, Types: []string{"city.lodging.*"}})
	if err != nil {
		t.Fatal(err)
	}
	want := a
	want.Status, want.Endpoint, want.Types, want.Version = paused, endpoint, []string{"city.lodging.*"}, 2
	if diff := cmp.Diff(want, up, cmpopts.IgnoreFields(Subscription{}, "UpdatedAt")); diff != "" {
		t.Errorf("Update (-want +got):\n%s", diff)
	}

	// Disable, then the organisation re-activates: the reason goes.
	if err := s.Disable(ctx, a.ID, "endpoint_gone"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, a.ID); got.Status != StatusDisabled || got.DisabledReason != "endpoint_gone" {
		t.Errorf("after Disable: %s %q", got.Status, got.DisabledReason)
	}
	active := StatusActive
	if got, err := s.Update(ctx, police, a.ID, Update{Status: &active}); err != nil || got.Status != StatusActive || got.DisabledReason != "" {
		t.Errorf("re-activated: %+v, %v", got, err)
	}

	if err := s.Delete(ctx, police, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := s.Delete(ctx, police, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
	if err := s.Disable(ctx, a.ID, "endpoint_gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Disable after Delete: %v", err)
	}
	if p, err := s.ListByOrg(ctx, police, 10, ""); err != nil || len(p.Items) != 0 {
		t.Errorf("ListByOrg after Delete: %v, %v", ids(p.Items), err)
	}
}

func TestListByOrgPagesOldestFirst(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	var want []string
	for range 5 {
		want = append(want, mustCreate(t, s, welfare, "city.holder.*").ID)
	}
	mustCreate(t, s, police, enrolled)
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		p, err := s.ListByOrg(t.Context(), welfare, 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(p.Items)...)
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listed (-want +got):\n%s", diff)
	}
	if _, err := s.ListByOrg(t.Context(), welfare, 2, "REVBRCMx"); !errors.Is(err, errCorruptCursor) {
		t.Errorf("a cursor to another kind of item: %v", err)
	}
}

func TestOtherOrganisationsCannotChange(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	a := mustCreate(t, s, police, enrolled)
	paused := StatusPaused
	if _, err := s.Update(ctx, transport, a.ID, Update{Status: &paused}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update by another: %v", err)
	}
	if _, err := s.RotateSecret(ctx, transport, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("RotateSecret by another: %v", err)
	}
	if err := s.Delete(ctx, transport, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete by another: %v", err)
	}
	got, err := s.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("changed by another organisation (-before +after):\n%s", diff)
	}
	if _, err := s.Update(ctx, police, "sub_00000000000000000000000000", Update{Status: &paused}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of nothing: %v", err)
	}
}

func TestRotateSecretKeepsThePreviousOneForTheOverlap(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	a := mustCreate(t, s, police, enrolled)
	before := time.Now()
	r, err := s.RotateSecret(ctx, police, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("stored (-answered +stored):\n%s", diff)
	}
	if len(got.Secrets) != 2 || bytes.Equal(got.Secrets[0].Key, a.Secrets[0].Key) || !bytes.Equal(got.Secrets[1].Key, a.Secrets[0].Key) {
		t.Fatalf("secrets after rotation: %+v", got.Secrets)
	}
	if exp := got.Secrets[1].ExpiresAt; exp.Before(before.Add(RotationOverlap)) || exp.After(time.Now().Add(RotationOverlap)) {
		t.Errorf("the previous secret expires at %v, want 24 h from now", exp)
	}
	if live := got.LiveSecrets(time.Now()); len(live) != 2 {
		t.Errorf("%d live secrets, want both", len(live))
	}
}

func TestConcurrentRotationsAllLand(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	a := mustCreate(t, s, police, enrolled)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.RotateSecret(t.Context(), police, a.ID) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 4 || len(got.Secrets) != 4 {
		t.Errorf("after 3 concurrent rotations: version %d, %d secrets; want 4, 4", got.Version, len(got.Secrets))
	}
}

func TestOrganisationLimit(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	var last Subscription
	for range MaxPerOrg {
		last = mustCreate(t, s, transport, "city.transit.*")
	}
	if _, err := s.Create(t.Context(), transport, "https://x.example/", []string{"city.transit.*"}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("subscription %d: %v, want ErrTooMany", MaxPerOrg+1, err)
	}
	mustCreate(t, s, police, enrolled) // others are not limited by it
	if err := s.Delete(t.Context(), transport, last.ID); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, transport, "city.transit.*")
}

func TestMatching(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	p1 := mustCreate(t, s, police, enrolled)
	w1 := mustCreate(t, s, welfare, "city.holder.*")
	w2 := mustCreate(t, s, welfare, "city.medical.*")
	paused := mustCreate(t, s, welfare, "city.holder.*")
	disabled := mustCreate(t, s, police, enrolled)
	deleted := mustCreate(t, s, police, enrolled)
	// Stored before a policy change narrowed the transport commission's
	// purpose: the store delivers by today's policy.
	mustCreate(t, s, transport, "city.holder.*")

	st := StatusPaused
	if _, err := s.Update(ctx, welfare, paused.ID, Update{Status: &st}); err != nil {
		t.Fatal(err)
	}
	if err := s.Disable(ctx, disabled.ID, "endpoint_gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, police, deleted.ID); err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string][]string{
		enrolled:                               {p1.ID, w1.ID},
		"city.holder.dependant_added.v1":       {w1.ID},
		"city.medical.settlement.completed.v1": {w2.ID},
		"city.transit.trip.v1":                 {},
	} {
		got, err := s.Matching(ctx, typ)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, ids(got)); diff != "" {
			t.Errorf("Matching(%s) (-want +got):\n%s", typ, diff)
		}
	}
}

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	a := mustCreate(t, s, police, enrolled)
	other := mustCreate(t, s, police, enrolled)
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	envs := make([]outbox.Envelope, 3)
	for i := range envs {
		envs[i] = outbox.Envelope{SpecVersion: "1.0", ID: fmt.Sprintf("0199a8f0-0000-7000-8000-00000000000%d", i), Source: "/citycode/holders",
			Type: enrolled, Subject: "hdr_x", Time: t0.Add(time.Duration(i) * time.Minute), DataContentType: "application/json",
			Sequence: fmt.Sprintf("%020d", i+1), Data: json.RawMessage(`{"holder_id":"hdr_x"}`)}
		if err := s.AddDeadLetter(ctx, a.ID, envs[i], 8, 503, "endpoint answered 503"); err != nil {
			t.Fatal(err)
		}
	}
	// The same event again replaces its dead letter.
	if err := s.AddDeadLetter(ctx, a.ID, envs[1], 9, 0, "x"+strings.Repeat("é", MaxErrorLength)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDeadLetter(ctx, "sub_00000000000000000000000000", envs[0], 8, 503, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("dead letter of no subscription: %v", err)
	}

	var got []DeadLetter
	cursor := ""
	for {
		p, err := s.DeadLetters(ctx, a.ID, 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Items...)
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if len(got) != 3 {
		t.Fatalf("%d dead letters, want 3", len(got))
	}
	for i, want := range []outbox.Envelope{envs[2], envs[1], envs[0]} {
		if diff := cmp.Diff(want, got[i].Event); diff != "" {
			t.Errorf("dead letter %d (-want +got):\n%s", i, diff)
		}
	}
	if d := got[1]; d.Attempts != 9 || d.LastStatus != 0 || len(d.LastError) > MaxErrorLength || !utf8.ValidString(d.LastError) || !strings.HasPrefix(d.LastError, "xé") {
		t.Errorf("replaced dead letter: %d attempts, status %d, %d-byte error", d.Attempts, d.LastStatus, len(d.LastError))
	}
	if d := got[0]; d.Attempts != 8 || d.LastStatus != 503 || d.LastError != "endpoint answered 503" || time.Since(d.DeadAt) > time.Minute {
		t.Errorf("dead letter: %+v", d)
	}
	if p, err := s.DeadLetters(ctx, other.ID, 10, ""); err != nil || len(p.Items) != 0 {
		t.Errorf("another subscription's dead letters: %d, %v", len(p.Items), err)
	}
}
