package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var expectedDash = regexp.MustCompile(`^line (\d+): did not find expected '-' indicator`)

// misindentedItem explains yaml.v3's "did not find expected '-'
// indicator", which it reports at the list's key: the line at fault is the
// first one below the list that is indented less than the item's keys but
// more than the list's key — a key dedented out of its item.
func misindentedItem(msg string, data []byte) (string, bool) {
	m := expectedDash.FindStringSubmatch(msg)
	if m == nil {
		return "", false
	}
	at, _ := strconv.Atoi(m[1])
	lines := strings.Split(string(data), "\n")
	if at < 1 || at > len(lines) {
		return "", false
	}
	listIndent := indentOf(lines[at-1])
	itemKeys, itemLine := -1, 0
	for i := at; i < len(lines); i++ {
		l := lines[i]
		trimmed := strings.TrimSpace(l)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		ind := indentOf(l)
		if ind <= listIndent {
			break
		}
		if strings.HasPrefix(trimmed, "- ") {
			itemKeys, itemLine = ind+2+indentOf(trimmed[2:]), i+1
			continue
		}
		if itemKeys >= 0 && ind < itemKeys {
			return fmt.Sprintf("line %d: %q is indented %d spaces, less than the keys of the list item it follows (line %d, %d spaces): "+
				"indent it to line up with them, or start a new item with \"- \"", i+1, trimmed, ind, itemLine, itemKeys), true
		}
	}
	return "", false
}

func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

var notAStruct = regexp.MustCompile(`^line (\d+): cannot unmarshal !!\w+ .*into (config\.\w+)$`)

// keyOfEntry explains "cannot unmarshal !!seq into config.Policy" where
// the value on that line sits under a key that belongs inside the entry
// above it (a policy's require_scopes dedented to the level of the policy
// names).
func keyOfEntry(l string, root *yaml.Node) (string, bool) {
	m := notAStruct.FindStringSubmatch(l)
	if m == nil {
		return "", false
	}
	line, _ := strconv.Atoi(m[1])
	t, ok := configTypes()[m[2]]
	if !ok {
		return "", false
	}
	parent, key, prev := mappingKeyAt(root, line)
	if key == "" {
		return "", false
	}
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name == key {
			where := parent
			if prev != nil {
				return fmt.Sprintf("line %d: %s.%s: %q is a key of each entry of %s, not an entry: indent it under %q (line %d)",
					line, where, key, key, where, prev.Value, prev.Line), true
			}
			return fmt.Sprintf("line %d: %s.%s: %q is a key of each entry of %s, not an entry: indent it under one", line, where, key, key, where), true
		}
	}
	return "", false
}
