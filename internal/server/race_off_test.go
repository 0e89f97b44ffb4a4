//go:build !race

package server

// raceEnabled: the race detector multiplies memory use (shadow memory).
const raceEnabled = false
