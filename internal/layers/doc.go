// Package layers holds the project's import layering as a test: each
// package has a layer, and a package imports only packages of lower
// layers — never a sibling, never one above it (docs/contributing.md).
package layers
