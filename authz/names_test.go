package authz

import (
	"strings"
	"testing"
)

// Each mode reads back from the name it writes, and a wrong name is an
// error that lists the right ones — the config's check and the server's
// mapping read the same table.
func TestModeNames(t *testing.T) {
	for _, m := range []TokenMode{TokenRequired, TokenOptional, TokenNone} {
		if got, err := ParseTokenMode(m.String()); err != nil || got != m {
			t.Errorf("token %q read back as %v, %v", m, got, err)
		}
	}
	for _, c := range []SenderConstraint{SenderOff, SenderDPoP, SenderMTLS, SenderAny} {
		if got, err := ParseSenderConstraint(c.String()); err != nil || got != c {
			t.Errorf("sender_constraint %q read back as %v, %v", c, got, err)
		}
	}
	for _, m := range []ErrorMode{ErrorRespond, ErrorRPC, ErrorResponse} {
		if got, err := ParseErrorMode(m.String()); err != nil || got != m {
			t.Errorf("error_mode %q read back as %q, %v", m, got, err)
		}
	}
	if ErrorRespond.String() != "respond" || TokenNone.String() != "none" || SenderAny.String() != "any" {
		t.Errorf("names: %s %s %s", ErrorRespond, TokenNone, SenderAny)
	}
	for name, parse := range map[string]func(string) error{
		"token":             func(s string) error { _, err := ParseTokenMode(s); return err },
		"sender_constraint": func(s string) error { _, err := ParseSenderConstraint(s); return err },
		"error_mode":        func(s string) error { _, err := ParseErrorMode(s); return err },
	} {
		err := parse("Required")
		if err == nil || !strings.Contains(err.Error(), `"Required": use `) {
			t.Errorf("%s: %v; want a refusal naming the values", name, err)
		}
	}
	if err := func() error { _, err := ParseErrorMode(""); return err }(); err == nil {
		t.Error(`error_mode "" was read: the config writes respond`)
	}
}
