package jwt

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeClaimsMatchesEncodingJSON: decodeClaims accepts exactly the
// payloads encoding/json decodes into a non-nil map, with equal results.
func FuzzDecodeClaimsMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"iss":"https://idp.example","sub":"alice","aud":["a","b"],"exp":1796000000,"nbf":1.5e9,"scope":"a b","email_verified":true,"x":null}`,
		`{"nested":{"a":[1,2,{"b":[]}],"c":{}},"n":-0.0e+1,"e":1E-400,"big":1e400}`,
		`{"esc":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800\udc00x\ud800","raw":"é😀\xff\xfe"}`,
		` { "a" : 1 , "a" : 2 } `,
		`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":"\x01"}`, `{"a":"\u12"}`, `{"a":tru}`,
		`{"a":1,}`, `[1]`, `null`, `"s"`, `{}x`, `{"a":1}}`, `{"a":[1,]}`, strings.Repeat("[", 20), `{"a":"\ud800\u0041"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want map[string]any
		wantErr := json.Unmarshal(data, &want)
		got, err := decodeClaims(data)
		wantOK := wantErr == nil && want != nil
		if (err == nil) != wantOK {
			t.Fatalf("%q: decodeClaims err %v, encoding/json err %v (map %v)", data, err, wantErr, want)
		}
		if wantOK && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decodeClaims %#v, encoding/json %#v", data, got, want)
		}
	})
}

func TestDecodeClaimsDepth(t *testing.T) {
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		doc := `{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
		var want map[string]any
		wantErr := json.Unmarshal([]byte(doc), &want)
		_, err := decodeClaims([]byte(doc))
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("depth %d: decodeClaims err %v, encoding/json err %v", depth, err, wantErr)
		}
	}
}
