package config

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// document is the top node of a parsed file (below its document node).
func document(root *yaml.Node) *yaml.Node {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		return root.Content[0]
	}
	return root
}

// walkValues visits every value below n in file order, each before what
// is below it: a mapping's values with their key, a sequence's items with
// key nil, and the key path to each ("issuers.0.jwks_url"). It stops, and
// reports true, when visit does.
func walkValues(n *yaml.Node, path []string, visit func(path []string, key, value *yaml.Node) bool) bool {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := append(append([]string(nil), path...), k.Value)
			if visit(p, k, v) || walkValues(v, p, visit) {
				return true
			}
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := append(append([]string(nil), path...), strconv.Itoa(i))
			if visit(p, nil, v) || walkValues(v, p, visit) {
				return true
			}
		}
	}
	return false
}

// scalarAtLine finds the first scalar value on line that match accepts.
func scalarAtLine(root *yaml.Node, line int, match func(string) bool) (path, value string) {
	walkValues(document(root), nil, func(p []string, _, v *yaml.Node) bool {
		if v.Kind == yaml.ScalarNode && v.Line == line && match(v.Value) {
			path, value = strings.Join(p, "."), v.Value
			return true
		}
		return false
	})
	return path, value
}

// pathAtLine is the key path ("cache.ttl") of the value on line: a scalar
// there, or a mapping or list whose key is there.
func pathAtLine(root *yaml.Node, line int) (path string) {
	walkValues(document(root), nil, func(p []string, k, v *yaml.Node) bool {
		if v.Line == line && v.Kind == yaml.ScalarNode || k != nil && k.Line == line && v.Kind != yaml.ScalarNode && v.Line != line {
			path = strings.Join(p, ".")
			return true
		}
		return false
	})
	return path
}

// containerAtLine is the key path of the list or mapping whose key is on
// line: where yaml.v3 found one and wanted another shape.
func containerAtLine(root *yaml.Node, line int) (path string) {
	walkValues(document(root), nil, func(p []string, k, v *yaml.Node) bool {
		if k != nil && k.Line == line && (v.Kind == yaml.SequenceNode || v.Kind == yaml.MappingNode) {
			path = strings.Join(p, ".")
			return true
		}
		return false
	})
	return path
}

// mappingKeyAt finds the mapping key on line: the path of its mapping, the
// key, and the key before it in that mapping.
func mappingKeyAt(root *yaml.Node, line int) (parent, key string, prev *yaml.Node) {
	in := func(p []string, m *yaml.Node) bool {
		if m.Kind != yaml.MappingNode {
			return false
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			if k := m.Content[i]; k.Line == line {
				parent, key = strings.Join(p, "."), k.Value
				if i >= 2 {
					prev = m.Content[i-2]
				}
				return true
			}
		}
		return false
	}
	doc := document(root)
	if !in(nil, doc) {
		walkValues(doc, nil, func(p []string, _, v *yaml.Node) bool { return in(p, v) })
	}
	return parent, key, prev
}
