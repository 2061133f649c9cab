package certificates

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/citycode/citycode/shared/ddb"
	"github.com/citycode/citycode/shared/holders"
)

// byIssuerIndex is CertificatesTable's index of certificate items by
// issuing organisation, newest first (template.yaml): gsi1pk
// ISSUER#<org>, gsi1sk <issued_at>#<certificate_id>; it projects the keys,
// category and status.
const byIssuerIndex = "ByIssuer"

func issuerPK(org string) string { return "ISSUER#" + org }

// issuerSK is the certificate item's sort key in the ByIssuer index.
func issuerSK(c Certificate) string { return holders.TimeKey(c.IssuedAt) + "#" + c.ID }

// maxIssuerQueries bounds the index Queries behind one page: with a
// category, most index items may not match, and a short page with a cursor
// is answered rather than reading the whole partition.
const maxIssuerQueries = 5

// issuerCursor is where a page of the ByIssuer index stopped: an index
// Query resumes from the index key and the table key of an item.
type issuerCursor struct {
	PK     string `json:"pk"`
	SK     string `json:"sk"`
	GSI1PK string `json:"gsi1pk"`
	GSI1SK string `json:"gsi1sk"`
}

// encode is the cursor as the client sees it: opaque base64url.
func (c issuerCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeIssuerCursor reads a cursor of org's list, and refuses one that is
// not a certificate item's position in org's partition (another org's
// cursor, or one made up).
func decodeIssuerCursor(org, s string) (map[string]types.AttributeValue, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errCorruptCursor
	}
	var c issuerCursor
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errCorruptCursor
	}
	_, id, ok := strings.Cut(c.GSI1SK, "#")
	if !ok || c.GSI1PK != issuerPK(org) || c.PK != certPK(id) || c.SK != skCert || !strings.HasSuffix(c.GSI1SK, "#"+id) {
		return nil, errCorruptCursor
	}
	return map[string]types.AttributeValue{"pk": ddb.S(c.PK), "sk": ddb.S(c.SK), "gsi1pk": ddb.S(c.GSI1PK), "gsi1sk": ddb.S(c.GSI1SK)}, nil
}

// cursorAt is the cursor after the index item it.
func cursorAt(it map[string]types.AttributeValue) string {
	s := func(name string) string {
		v, _ := it[name].(*types.AttributeValueMemberS)
		if v == nil {
			return ""
		}
		return v.Value
	}
	return issuerCursor{PK: s("pk"), SK: s("sk"), GSI1PK: s("gsi1pk"), GSI1SK: s("gsi1sk")}.encode()
}

// ByIssuer pages through the certificates org issued, optionally of one
// category, newest first. The index is read eventually consistently; the
// certificates themselves are then read consistently (one BatchGetItem),
// so every status answered is the current one.
func (s *Store) ByIssuer(ctx context.Context, org, category string, limit int, cursor string) (Page, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(byIssuerIndex),
		KeyConditionExpression:    aws.String("gsi1pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": ddb.S(issuerPK(org))},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	}
	if category != "" {
		in.FilterExpression = aws.String("category = :category")
		in.ExpressionAttributeValues[":category"] = ddb.S(category)
	}
	if cursor != "" {
		start, err := decodeIssuerCursor(org, cursor)
		if err != nil {
			return Page{}, err
		}
		in.ExclusiveStartKey = start
	}
	var (
		found []map[string]types.AttributeValue
		next  string
	)
	for q := 1; ; q++ {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return Page{}, fmt.Errorf("query issuer's certificates: %w", err)
		}
		found = append(found, out.Items...)
		switch {
		case len(found) > limit || len(found) == limit && out.LastEvaluatedKey != nil:
			found = found[:limit]
			next = cursorAt(found[limit-1])
		case out.LastEvaluatedKey == nil:
			next = ""
		case q == maxIssuerQueries:
			next = cursorAt(out.LastEvaluatedKey)
		default:
			in.ExclusiveStartKey = out.LastEvaluatedKey
			continue
		}
		break
	}
	ids := make([]Certificate, len(found))
	for i, it := range found {
		id, _ := it["pk"].(*types.AttributeValueMemberS)
		if id == nil {
			return Page{}, errors.New("issuer index item without pk")
		}
		ids[i] = Certificate{ID: strings.TrimPrefix(id.Value, "CERT#")}
	}
	full, err := s.Full(ctx, ids)
	if err != nil {
		return Page{}, err
	}
	for i := range full {
		full[i].Fields, full[i].FieldsJSON, full[i].Document = nil, "", ""
	}
	return Page{Items: full, NextCursor: next}, nil
}
