package holders

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/ddb"
)

// ErrDocumentNotEnrolled is a document no holder enrolled with.
var ErrDocumentNotEnrolled = errors.New("holders: no holder enrolled with this document")

// IsDocumentType reports whether t is one of the document types a holder
// enrolls with.
func IsDocumentType(t string) bool {
	switch t {
	case DocResidentID, DocPassport, DocHKMacauPermit, DocTaiwanPermit, DocForeignResident:
		return true
	}
	return false
}

// HolderIDForDocument answers the holder enrolled with the document of
// docType and number (trimmed and upper-cased, as enrollment stores it),
// through the document index, consistently; ErrDocumentNotEnrolled when
// there is none. The store must have the document key (NewStore's docKey,
// DocumentKey): another key would find nobody.
func (s *Store) HolderIDForDocument(ctx context.Context, docType, number string) (string, error) {
	if len(s.docKey) == 0 {
		return "", errors.New("holders: no document key to look documents up with")
	}
	number = strings.ToUpper(strings.TrimSpace(number))
	var l loginItem
	found, err := ddb.Get(ctx, s.db, s.table, s.docPK(docType, number), skDoc, &l)
	if err != nil {
		return "", fmt.Errorf("document: %w", err)
	}
	if !found {
		return "", ErrDocumentNotEnrolled
	}
	return l.HolderID, nil
}

// DocumentKey loads the document index's HMAC key from env as the holders
// function does (DOCUMENT_KEY, hex, in local runs; else the secret
// DOCUMENT_KEY_SECRET_ARN), for another function that finds holders by
// document.
func DocumentKey(ctx context.Context, env app.Env, awsCfg aws.Config) ([]byte, error) {
	cfg := Config{DocumentKeyHex: env("DOCUMENT_KEY"), DocumentKeySecretARN: env("DOCUMENT_KEY_SECRET_ARN")}
	if cfg.DocumentKeyHex == "" && cfg.DocumentKeySecretARN == "" {
		return nil, errors.New("DOCUMENT_KEY or DOCUMENT_KEY_SECRET_ARN must be set")
	}
	return documentKey(ctx, cfg, awsCfg)
}
