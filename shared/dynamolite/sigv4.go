package dynamolite

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"
)

// sign signs req with AWS Signature Version 4
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):
// it sets X-Amz-Date, X-Amz-Security-Token (for temporary credentials) and
// Authorization, signing the method, the path, the host and every header
// req carries at this point. req has no query string (the JSON protocol has
// none); payloadHash is the hex SHA-256 of its body.
func sign(req *http.Request, payloadHash string, creds Credentials, region, service string, now time.Time) {
	amzDate := now.UTC().Format("20060102T150405Z")
	req.Header.Set("X-Amz-Date", amzDate)
	if creds.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", creds.SessionToken)
	}
	names := []string{"host"}
	for name := range req.Header {
		names = append(names, strings.ToLower(name))
	}
	slices.Sort(names)
	signedHeaders := strings.Join(names, ";")

	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	var canonical strings.Builder
	canonical.WriteString(req.Method + "\n" + path + "\n\n")
	for _, name := range names {
		value := req.Host
		if name != "host" {
			var values []string
			for _, v := range req.Header.Values(name) {
				values = append(values, strings.Join(strings.Fields(v), " "))
			}
			value = strings.Join(values, ",")
		}
		canonical.WriteString(name + ":" + value + "\n")
	}
	canonical.WriteString("\n" + signedHeaders + "\n" + payloadHash)

	scope := amzDate[:8] + "/" + region + "/" + service + "/aws4_request"
	requestHash := sha256.Sum256([]byte(canonical.String()))
	stringToSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(requestHash[:])
	key := []byte("AWS4" + creds.SecretAccessKey)
	for _, part := range []string{amzDate[:8], region, service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+creds.AccessKeyID+"/"+scope+
		", SignedHeaders="+signedHeaders+", Signature="+hex.EncodeToString(hmacSHA256(key, stringToSign)))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
