package qrissue

import (
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/citycode/citycode/shared/trust"
)

// BenchmarkPNG is the cost of the picture a resident's app shows: signing
// a code and rendering it as a PNG.
func BenchmarkPNG(b *testing.B) {
	now := time.Now()
	ring, err := trust.Generate("CN-SH", "Shanghai", now.Add(-time.Hour), 24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	a := NewAPI(nil, ring, "CN-SH", time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		code, _, err := a.sign("hdr_aaaaaaaaaaaaaaaaaaaaaaaaaa")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := qrcode.Encode(code, qrcode.Medium, PNGSize); err != nil {
			b.Fatal(err)
		}
	}
}
