package qrverify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/makiuchi-d/gozxing"
	zxingqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/citycode/citycode/shared/apitest"
	"github.com/citycode/citycode/shared/credential"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/trust"
)

func residentID(first17 string) string { return first17 + string(holders.ResidentIDCheck(first17)) }

// world is an API with one enrolled resident and scanners' tokens.
type world struct {
	api      *apitest.API
	resident string // token
	holderID string
}

func newWorld(t *testing.T) world {
	t.Helper()
	api := apitest.New(t)
	tok := api.Token("qr-resident", "resident")
	r := api.Do(apitest.Request{Method: "POST", Path: "/v1/holders", Token: tok, Body: fmt.Sprintf(
		`{"name":"周洁","document_type":"resident_id","document_number":%q,"date_of_birth":"1988-04-09","nationality":"CHN"}`, residentID("31010419880409002"))})
	if r.Status != 201 {
		t.Fatalf("enroll: %d %s", r.Status, r.Body)
	}
	return world{api: api, resident: tok, holderID: r.JSON["holder_id"].(string)}
}

func (w world) scanner(sub, scope, org string) string {
	tok, err := w.api.TokenWithOrg(sub, scope, org)
	if err != nil {
		panic(err)
	}
	return tok
}

// issue asks qr-issue for a code as JSON.
func (w world) issue(t *testing.T, body string) string {
	t.Helper()
	r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/codes", Token: w.resident, Body: body})
	if r.Status != 201 {
		t.Fatalf("issue: %d %s", r.Status, r.Body)
	}
	return r.JSON["code"].(string)
}

func (w world) verify(t *testing.T, token, code, purpose string) apitest.Response {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"code": code, "purpose": purpose})
	return w.api.Do(apitest.Request{Method: "POST", Path: "/v1/verify", Token: token, Body: string(b)})
}

func TestCodeFromPNGVerifiesOnceForAHotel(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// gozxing's finder-pattern detector misses about 1 in 80 of go-qrcode's
	// symbols of random codes, at any scale and with TRY_HARDER, although
	// every one of them reads as a pure barcode (measured over 800), so the
	// symbols are sound; a miss asks for the next code, as the app's
	// 40-second refresh would, at most three times.
	var code string
	for attempt := 1; code == ""; attempt++ {
		r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/codes", Token: w.resident, Header: map[string]string{"Accept": "image/png"}})
		if r.Status != 201 || r.Header.Get("Content-Type") != "image/png" || r.Header.Get("Code-Expires-At") == "" {
			t.Fatalf("PNG: %d %q %q", r.Status, r.Header.Get("Content-Type"), r.Header.Get("Code-Expires-At"))
		}
		var err error
		if code, err = readQR(r.Body); err != nil && attempt == 3 {
			t.Fatalf("an ordinary QR reader cannot read three PNGs in a row: %v", err)
		}
	}
	if !strings.HasPrefix(code, "CC1:") {
		t.Fatalf("the QR holds %q", code)
	}
	hotel := w.scanner("hotel-desk", "scan:hotel", "hotel-demo")
	first := w.verify(t, hotel, code, "hotel")
	if first.Status != 200 || first.JSON["valid"] != true {
		t.Fatalf("verify: %d %s", first.Status, first.Body)
	}
	want := map[string]any{"name": "周洁", "document_type": "resident_id", "document_number": residentID("31010419880409002"),
		"nationality": "CHN", "date_of_birth": "1988-04-09"}
	if diff := cmp.Diff(want, first.JSON["claims"]); diff != "" {
		t.Errorf("hotel claims (-want +got):\n%s", diff)
	}
	second := w.verify(t, hotel, code, "hotel")
	if second.JSON["valid"] != false || second.JSON["reason"] != "replayed" || len(second.JSON["claims"].(map[string]any)) != 0 {
		t.Errorf("second scan: %s", second.Body)
	}
	// The release is in the holder's access log, once, naming the hotel.
	log := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/access-log", Token: w.resident})
	items := log.JSON["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["organisation"] != "hotel-demo" || items[0].(map[string]any)["purpose"] != "hotel" {
		t.Errorf("access log: %s", log.Body)
	}
}

// readQR reads a PNG's QR symbol with gozxing, an ordinary reader.
func readQR(pngBytes []byte) (string, error) {
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		return "", err
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := zxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

func TestRefusalReasons(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	gov := w.scanner("window-1", "scan:government", "gov-demo")
	now := time.Now()
	ref, _ := holders.Ref(w.holderID)
	sign := func(ring *trust.KeyRing, issuer string, iat time.Time, life time.Duration) string {
		s, err := ring.Signer(iat)
		if err != nil {
			t.Fatal(err)
		}
		c := credential.Claims{Issuer: issuer, Subject: ref, IssuedAt: iat.Truncate(time.Second), NotBefore: iat.Truncate(time.Second), Expires: iat.Add(life).Truncate(time.Second)}
		code, err := credential.Encode(s, c)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	stranger, err := trust.Generate("CN-SH", "Impostor", now.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	good := w.issue(t, "")
	for _, tc := range []struct {
		name, code, reason string
	}{
		{"changed signature character", changeSignatureChar(t, good), "bad_signature"},
		{"no prefix", strings.TrimPrefix(good, "CC1:"), "malformed"},
		{"truncated", good[:len(good)/2], "malformed"},
		{"expired", sign(w.api.Secrets.Home, "CN-SH", now.Add(-5*time.Minute), time.Minute), "expired"},
		{"not yet valid", sign(w.api.Secrets.Home, "CN-SH", now.Add(5*time.Minute), time.Minute), "not_yet_valid"},
		{"unknown key", sign(stranger, "CN-SH", now, time.Minute), "unknown_key"},
	} {
		r := w.verify(t, gov, tc.code, "government")
		if r.Status != 200 || r.JSON["valid"] != false || r.JSON["reason"] != tc.reason {
			t.Errorf("%s: %d %s, want reason %s", tc.name, r.Status, r.Body, tc.reason)
		}
	}
	// Government windows are not single-use: the good code verifies twice.
	for range 2 {
		if r := w.verify(t, gov, good, "government"); r.JSON["valid"] != true {
			t.Errorf("government scan: %s", r.Body)
		}
	}
	// Another city's code, through the imported peer list.
	hz := w.verify(t, gov, sign(w.api.Secrets.Peer, "CN-HZ", now, time.Minute), "government")
	if hz.JSON["valid"] != true || hz.JSON["issuer"] != "CN-HZ" {
		t.Errorf("peer city's code: %s", hz.Body)
	}
}

// changeSignatureChar changes one Base45 character inside the signature so
// that the text still decodes.
func changeSignatureChar(t *testing.T, code string) string {
	t.Helper()
	body := []byte(strings.TrimPrefix(code, "CC1:"))
	for i := len(body) - 30; i > len(body)-60; i -= 3 {
		i -= i % 3 // the first character of a 3-character group
		c := body[i]
		for _, repl := range []byte("0123456789") {
			if repl == c {
				continue
			}
			body[i] = repl
			if _, err := credential.Decode("CC1:" + string(body)); err == nil {
				return "CC1:" + string(body)
			}
		}
		body[i] = c
	}
	t.Fatal("no decodable one-character change found")
	return ""
}

func TestPurposesSeeOnlyTheirClaims(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	gate := w.scanner("gate-1", "scan:transit", "metro-demo")
	r := w.verify(t, gate, w.issue(t, ""), "transit")
	if diff := cmp.Diff(map[string]any{"may_travel": false}, r.JSON["claims"]); diff != "" || r.JSON["valid"] != true {
		t.Errorf("transit (-want +got):\n%s\n%s", diff, r.Body)
	}
	venue := w.scanner("library-1", "scan:venue", "library-demo")
	r = w.verify(t, venue, w.issue(t, ""), "venue")
	if diff := cmp.Diff(map[string]any{"age_group": "adult"}, r.JSON["claims"]); diff != "" {
		t.Errorf("venue (-want +got):\n%s", diff)
	}
	if r := w.verify(t, gate, w.issue(t, ""), "hotel"); r.Status != 403 || r.Code() != "purpose_not_allowed" {
		t.Errorf("a gate asking for hotel claims: %d %s", r.Status, r.Body)
	}
	if r := w.verify(t, gate, "x", "party"); r.Status != 422 || r.Code() != "validation_failed" {
		t.Errorf("unknown purpose: %d %s", r.Status, r.Body)
	}
	// Only the venue's age group is personal; the gate's answer is not logged.
	log := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/holders/me/access-log", Token: w.resident})
	if items := log.JSON["items"].([]any); len(items) != 1 || items[0].(map[string]any)["purpose"] != "venue" {
		t.Errorf("access log: %s", log.Body)
	}
}

func TestDependantsCodeAndSuspension(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dep := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/holders/me/dependants", Token: w.resident, Body: fmt.Sprintf(
		`{"name":"周小洁","document_type":"resident_id","document_number":%q,"date_of_birth":"2017-05-06","nationality":"CHN","relationship":"child"}`, residentID("31010420170506002"))})
	depID := dep.JSON["holder_id"].(string)
	code := w.issue(t, fmt.Sprintf(`{"holder_id":%q}`, depID))
	venue := w.scanner("library-1", "scan:venue", "library-demo")
	if r := w.verify(t, venue, code, "venue"); r.JSON["claims"].(map[string]any)["age_group"] != "minor" {
		t.Errorf("dependant's code: %s", r.Body)
	}
	stranger := w.api.Token("qr-stranger", "resident")
	w.api.Do(apitest.Request{Method: "POST", Path: "/v1/holders", Token: stranger, Body: fmt.Sprintf(
		`{"name":"陌生人","document_type":"resident_id","document_number":%q,"date_of_birth":"1970-01-01","nationality":"CHN"}`, residentID("31010419700101002"))})
	if r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/codes", Token: stranger, Body: fmt.Sprintf(`{"holder_id":%q}`, depID)}); r.Status != 404 || r.Code() != "dependant_not_found" {
		t.Errorf("a stranger's code for the dependant: %d %s", r.Status, r.Body)
	}
	if r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/codes", Token: w.api.Token("never-enrolled", "resident")}); r.Status != 404 || r.Code() != "not_enrolled" {
		t.Errorf("unenrolled: %d %s", r.Status, r.Body)
	}

	code = w.issue(t, "")
	suspend(t, w.api, w.holderID)
	if r := w.verify(t, venue, code, "venue"); r.JSON["valid"] != false || r.JSON["reason"] != "holder_suspended" {
		t.Errorf("suspended holder's code: %s", r.Body)
	}
	if r := w.api.Do(apitest.Request{Method: "POST", Path: "/v1/codes", Token: w.resident}); r.Status != 409 || r.Code() != "holder_suspended" {
		t.Errorf("suspended holder asks for a code: %d %s", r.Status, r.Body)
	}
}

func suspend(t *testing.T, api *apitest.API, id string) {
	t.Helper()
	_, err := api.DB.Client.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(api.DB.Tables["HoldersTable"]),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "HOLDER#" + id}, "sk": &types.AttributeValueMemberS{Value: "PROFILE"}},
		UpdateExpression:          aws.String("SET #s = :s"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: holders.StatusSuspended}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOfflineGate does exactly what a gate does, with no access to the
// tables: fetch the public trust list, check it against the pinned root,
// and verify a code against it alone.
func TestOfflineGate(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	code := w.issue(t, "")
	r := w.api.Do(apitest.Request{Method: "GET", Path: "/v1/trust-list"})
	if r.Status != 200 || !strings.Contains(r.Header.Get("Cache-Control"), "public") {
		t.Fatalf("trust list: %d %s", r.Status, r.Body)
	}
	root, err := trust.ParseRootJWK([]byte(w.api.Secrets.Env["TRUST_ROOT_JWK"]))
	if err != nil {
		t.Fatal(err)
	}
	gate := trust.NewGate(root)
	now := time.Now()
	if err := gate.Update(r.JSON["signed"].(string), now); err != nil {
		t.Fatalf("gate refuses the published list: %v", err)
	}
	claims, err := gate.Verify(code, now, 30*time.Second)
	if err != nil {
		t.Fatalf("offline verification: %v", err)
	}
	if id := holders.IDFromRef(claims.Subject); id != w.holderID {
		t.Errorf("code names %s, want %s", id, w.holderID)
	}
	later := now.Add(time.Duration(r.JSON["list"].(map[string]any)["max_offline_age_seconds"].(float64))*time.Second + time.Minute)
	if _, err := gate.Verify(code, later, 30*time.Second); trust.Reason(err) != "trust_list_stale" {
		t.Errorf("stale list: %v, want trust_list_stale", err)
	}
}

func TestIssuedCodesFitQRVersion8M(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for range 20 {
		code := w.issue(t, "")
		q, err := qrcode.New(code, qrcode.Medium)
		if err != nil {
			t.Fatal(err)
		}
		if q.VersionNumber > 8 {
			t.Fatalf("code of %d characters needs QR version %d", len(code), q.VersionNumber)
		}
	}
}
