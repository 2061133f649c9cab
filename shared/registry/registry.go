// Package registry names the capability behind each function of template.yaml.
// The local run and the bootstrap tests use it to find a template function's
// code; a test checks that it and the template list the same functions.
package registry

import (
	"strings"
	"unicode"

	"github.com/citycode/citycode/shared/app"
	"github.com/citycode/citycode/shared/certificates"
	"github.com/citycode/citycode/shared/eventpublish"
	"github.com/citycode/citycode/shared/holders"
	"github.com/citycode/citycode/shared/lodging"
	"github.com/citycode/citycode/shared/medical"
	"github.com/citycode/citycode/shared/qrissue"
	"github.com/citycode/citycode/shared/qrverify"
	"github.com/citycode/citycode/shared/subscriptions"
	"github.com/citycode/citycode/shared/transit"
	"github.com/citycode/citycode/shared/trustpublish"
	"github.com/citycode/citycode/shared/venues"
	"github.com/citycode/citycode/shared/webhooks"
)

// Functions maps a template function that serves HTTP API routes, by
// logical id, to its capability.
var Functions = map[string]app.Function{
	"CertificatesFunction":   certificates.New,
	"HoldersFunction":        holders.New,
	"HotelCheckinFunction":   lodging.New,
	"HospitalSettleFunction": medical.New,
	"QrIssueFunction":        qrissue.New,
	"QrVerifyFunction":       qrverify.New,
	"SubscriptionsFunction":  subscriptions.New,
	"TransitFareFunction":    transit.New,
	"VenueEntryFunction":     venues.New,
}

// Jobs maps a template function triggered by a schedule, a stream or a
// queue, by logical id, to its capability.
var Jobs = map[string]app.Job{
	"TrustPublisherFunction":  trustpublish.NewJob,
	"EventPublisherFunction":  eventpublish.NewJob,
	"WebhookDeliveryFunction": webhooks.NewJob,
	"LodgingReportsFunction":  lodging.NewJob,
	"TransitSweepFunction":    transit.NewSweepJob,
}

// Dir is where a template function's main package and sample events live:
// functions/<name> and events/<name>, name being the logical id without
// "Function" in kebab case (QrVerifyFunction -> qr-verify). The Makefile's
// build-<LogicalId> targets apply the same rule.
func Dir(logicalID string) string {
	base := strings.TrimSuffix(logicalID, "Function")
	var b strings.Builder
	for i, r := range base {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rune(base[i-1])) || unicode.IsDigit(rune(base[i-1]))) {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
