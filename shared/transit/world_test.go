package transit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/dynamolite"
	"github.com/citycode/citycode/shared/dynamotest"
	"github.com/citycode/citycode/shared/fares"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/outbox"
	"github.com/citycode/citycode/shared/qrverify"
	"github.com/citycode/citycode/shared/scan"
	"github.com/citycode/citycode/shared/trust"
)

// world is a test's tables, a Service over them and the home city's keys.
type world struct {
	db   *dynamotest.Env
	hs   *holders.Store
	svc  *Service
	ring *trust.KeyRing
	net  *fares.Engine
}

var (
	metroGate = qrverify.Scanner{Subject: "metro-depot", Org: "metro-demo"}
	busGate   = qrverify.Scanner{Subject: "bus-depot", Org: "bus-demo"}
)

// newWorld builds the world; hc (nil: the default) carries every DynamoDB
// call, so that tests can count them.
func newWorld(t testing.TB, hc *http.Client) world {
	t.Helper()
	db := dynamotest.New(t)
	env := db.FunctionEnv(t, "TransitFareFunction")
	key, _ := hex.DecodeString(db.FunctionEnv(t, "HoldersFunction")["DOCUMENT_KEY"])
	now := time.Now()
	ring, err := trust.Generate("CN-SH", "Shanghai", now.Add(-MaxAge), MaxAge+24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, list, err := trust.Publish(ring, nil, 1, now, time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	liteCfg, err := dynamolite.ConfigFromEnv(db.AppEnv(t, "TransitFareFunction"))
	if err != nil {
		t.Fatal(err)
	}
	client := db.Client
	if hc != nil {
		liteCfg.HTTPClient = hc
		client = dynamodb.New(db.Client.Options(), func(o *dynamodb.Options) { o.HTTPClient = hc })
	}
	lite, err := dynamolite.New(liteCfg)
	if err != nil {
		t.Fatal(err)
	}
	uses, holdersTable := env["CODE_USES_TABLE"], env["HOLDERS_TABLE"]
	v := qrverify.NewVerifier(trust.StaticSource{List: list}, qrverify.NewDynamoStore(lite, uses, holdersTable), "CN-SH", 30*time.Second)
	net, err := fares.Load(env["TRANSIT_GTFS_DIR"], env["FARE_RULES_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	gates, err := LoadGates(env["TRANSIT_GATES_FILE"], net)
	if err != nil {
		t.Fatal(err)
	}
	store := NewStore(client, env["TRANSIT_TABLE"], holdersTable, uses, outbox.New(client, env["EVENTS_TABLE"], time.Hour))
	return world{db: db, hs: holders.NewStore(db.Client, holdersTable, key), svc: NewService(net, gates, scan.NewScanner(v, uses, holdersTable), store),
		ring: ring, net: net}
}

// holder enrolls a rider with balance fen on the account.
func (w world) holder(t testing.TB, balance int64) string {
	t.Helper()
	ctx := context.Background()
	var b [4]byte
	_, _ = rand.Read(b[:])
	doc := "E" + strings.ToUpper(hex.EncodeToString(b[:]))
	h, err := w.hs.Enroll(ctx, "rider-"+doc, holders.Enrollment{Name: "乘客", DocumentType: holders.DocPassport, DocumentNumber: doc,
		DateOfBirth: "1990-01-01", Nationality: "SGP"})
	if err != nil {
		t.Fatal(err)
	}
	if balance > 0 {
		if _, err := w.hs.TopUp(ctx, h.ID, "top_"+doc, balance); err != nil {
			t.Fatal(err)
		}
	}
	return h.ID
}

// code signs a fresh code for holderID, valid around at.
func (w world) code(t testing.TB, holderID string, at time.Time) string {
	t.Helper()
	return w.codeOf(t, "CN-SH", w.ring, holderID, at)
}

func (w world) codeOf(t testing.TB, issuer string, ring *trust.KeyRing, holderID string, at time.Time) string {
	t.Helper()
	at = at.Truncate(time.Second)
	ref, err := holders.Ref(holderID)
	if err != nil {
		t.Fatal(err)
	}
	c := credential.Claims{Issuer: issuer, Subject: ref, IssuedAt: at.Add(-5 * time.Second), NotBefore: at.Add(-5 * time.Second), Expires: at.Add(55 * time.Second)}
	_, _ = rand.Read(c.CodeID[:])
	signer, err := ring.Signer(at)
	if err != nil {
		t.Fatal(err)
	}
	code, err := credential.Encode(signer, c)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// tap is a tap at a metro station's test gate (gate-<station>-01).
func tap(id, station, direction string, at time.Time, code string) Tap {
	return Tap{TapID: id, GateID: "gate-" + strings.ReplaceAll(station, "_", "-") + "-01", StopID: station, Direction: direction,
		At: at.UTC().Format(time.RFC3339Nano), Code: code}
}

// ledger checks that id's balance is the sum of its ledger and returns
// the balance and the fare entries.
func (w world) ledger(t testing.TB, id string) (int64, []holders.Entry) {
	t.Helper()
	ctx := context.Background()
	acct, err := w.hs.Account(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	var fares []holders.Entry
	cursor := ""
	for {
		p, err := w.hs.Entries(ctx, id, 100, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Items {
			sum += e.AmountFen
			if e.Kind == "transit_fare" {
				fares = append(fares, e)
			}
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if sum != acct.BalanceFen {
		t.Errorf("holder %s: balance %d, ledger sums to %d", id, acct.BalanceFen, sum)
	}
	return acct.BalanceFen, fares
}

// trips reads all of id's trips, newest first.
func (w world) trips(t testing.TB, id string) []Trip {
	t.Helper()
	p, err := w.svc.store.Trips(context.Background(), id, time.Unix(0, 0), time.Now().Add(time.Hour), 100, "")
	if err != nil {
		t.Fatal(err)
	}
	return p.Items
}

func describeResults(rs []Result) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%s:%s:%s ", r.TapID, r.Status, r.Code)
	}
	return b.String()
}
