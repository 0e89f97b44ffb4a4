package authz

import (
	"math"
	"testing"
	"time"
)

func TestNumericDate(t *testing.T) {
	cases := []struct {
		v    any
		want time.Time
		ok   bool
	}{
		{float64(1700000000), time.Unix(1700000000, 0), true},
		{1700000000.5, time.Unix(1700000000, 5e8), true},
		{float64(0), time.Unix(0, 0), true},
		{float64(-1), time.Time{}, false},
		{1e12, time.Time{}, false},
		{math.NaN(), time.Time{}, false},
		{math.Inf(1), time.Time{}, false},
		{"1700000000", time.Time{}, false},
		{nil, time.Time{}, false},
	}
	for _, c := range cases {
		if got, ok := NumericDate(c.v); ok != c.ok || !got.Equal(c.want) {
			t.Errorf("NumericDate(%v) = %v, %v; want %v, %v", c.v, got, ok, c.want, c.ok)
		}
	}
}
