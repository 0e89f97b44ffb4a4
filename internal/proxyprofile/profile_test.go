package proxyprofile

import (
	"strings"
	"testing"
)

// Every listed name has a profile under its own name; "" is nginx's; an
// unknown name is an error that lists the known ones.
func TestFor(t *testing.T) {
	for _, name := range Names() {
		p, err := For(name)
		if err != nil || p.Name != name {
			t.Errorf("For(%q) = %+v, %v", name, p, err)
		}
	}
	if p, err := For(""); err != nil || p.Name != Nginx {
		t.Errorf(`For("") = %+v, %v; want nginx's`, p, err)
	}
	_, err := For("haproxy")
	if err == nil || !strings.Contains(err.Error(), strings.Join(Names(), ", ")) {
		t.Errorf("For(haproxy): %v; want an error naming %v", err, Names())
	}
}
