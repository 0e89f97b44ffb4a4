package forwardauth

import "testing"

func TestXFCCHash(t *testing.T) {
	cases := map[string]string{
		`Hash=abc`: "abc",
		`By=spiffe://a;Hash=abc;Subject="CN=x,O=y";URI=spiffe://b`: "abc",
		`Subject="CN=x;Hash=evil";Hash=abc`:                        "abc",
		`Hash=abc,Hash=def`:                                        "",
		`By=x;Subject="a,b"`:                                       "",
		``:                                                         "",
	}
	for in, want := range cases {
		if got := xfccHash([]string{in}); got != want {
			t.Errorf("xfccHash(%q) = %q, want %q", in, got, want)
		}
	}
	// Two field lines of one element each are two elements.
	if got := xfccHash([]string{"Hash=evil", "Hash=abc"}); got != "" {
		t.Errorf("two XFCC field lines: %q", got)
	}
	if got := xfccHash(nil); got != "" {
		t.Errorf("no XFCC: %q", got)
	}
}
