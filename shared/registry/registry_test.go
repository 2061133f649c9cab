package registry

import "testing"

func TestDir(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"HoldersFunction":        "holders",
		"QrVerifyFunction":       "qr-verify",
		"HospitalSettleFunction": "hospital-settle",
		"EventPublisherFunction": "event-publisher",
		"Api2GatewayFunction":    "api2-gateway",
	} {
		if got := Dir(in); got != want {
			t.Errorf("Dir(%q) = %q, want %q", in, got, want)
		}
	}
}
