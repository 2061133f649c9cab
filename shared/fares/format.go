package fares

import "fmt"

// yuan formats fen as "¥4.00"; integer arithmetic only.
func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s¥%d.%02d", sign, fen/100, fen%100)
}

// km formats metres as "16.000 km".
func km(m int64) string { return fmt.Sprintf("%d.%03d km", m/1000, m%1000) }

// percent formats basis points as "10%" or "12.5%".
func percent(bps int64) string {
	if bps%100 == 0 {
		return fmt.Sprintf("%d%%", bps/100)
	}
	return fmt.Sprintf("%d.%02d%%", bps/100, bps%100)
}

// priced is a product with its amount: "Metro over 6 km up to 16 km ¥4.00".
func priced(p product) string { return nameOr(p) + " " + yuan(p.fen) }

func nameOr(p product) string {
	if p.name != "" {
		return p.name
	}
	return p.id
}

func nameOfRoute(r Route) string {
	if r.ShortName != "" {
		return r.ShortName
	}
	return r.LongName
}
