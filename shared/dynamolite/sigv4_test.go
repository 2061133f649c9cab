package dynamolite

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"
)

func hashHex(b string) string {
	sum := sha256.Sum256([]byte(b))
	return hex.EncodeToString(sum[:])
}

// TestSignAWSTestSuite signs requests of the AWS SigV4 test suite
// (aws-sig-v4-test-suite: get-vanilla, post-vanilla,
// post-x-www-form-urlencoded) and compares with its published Authorization
// headers.
func TestSignAWSTestSuite(t *testing.T) {
	t.Parallel()
	creds := Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	const prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	tests := []struct {
		name, method, body string
		headers            map[string]string
		want               string
	}{
		{"get-vanilla", http.MethodGet, "", nil,
			prefix + "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"post-vanilla", http.MethodPost, "", nil,
			prefix + "SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{"post-x-www-form-urlencoded", http.MethodPost, "Param1=value1", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			prefix + "SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, "https://example.amazonaws.com/", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			sign(req, hashHex(tt.body), creds, "us-east-1", "service", at)
			if diff := cmp.Diff(tt.want, req.Header.Get("Authorization")); diff != "" {
				t.Errorf("Authorization (-want +got):\n%s", diff)
			}
			if got := req.Header.Get("X-Amz-Date"); got != "20150830T123600Z" {
				t.Errorf("X-Amz-Date = %q", got)
			}
		})
	}
}

// TestSignAgreesWithTheSDK signs a DynamoDB request the way the client
// does, with and without a session token, and compares with the AWS SDK's
// signer on the same request.
func TestSignAgreesWithTheSDK(t *testing.T) {
	t.Parallel()
	body := `{"TableName":"t","Key":{"pk":{"S":"a  b"}}}`
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CST", 8*3600))
	for _, token := range []string{"", "FQoGZXIvYXdzEXAMPLETOKEN//////////wEaDExample=="} {
		t.Run("token="+token, func(t *testing.T) {
			t.Parallel()
			creds := Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret/EXAMPLE+key", SessionToken: token}
			newReq := func() *http.Request {
				// No body on the request itself: the SDK would also sign
				// Content-Length, which the client leaves to net/http.
				req, err := http.NewRequest(http.MethodPost, "https://dynamodb.cn-north-1.amazonaws.com.cn/", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-amz-json-1.0")
				req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
				return req
			}
			mine, sdk := newReq(), newReq()
			sign(mine, hashHex(body), creds, "cn-north-1", "dynamodb", at)
			err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: token},
				sdk, hashHex(body), "dynamodb", "cn-north-1", at)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
				if diff := cmp.Diff(sdk.Header.Get(h), mine.Header.Get(h)); diff != "" {
					t.Errorf("%s (-sdk +mine):\n%s", h, diff)
				}
			}
		})
	}
}
