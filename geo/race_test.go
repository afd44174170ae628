//go:build race

package geo

// raceEnabled is true when the tests run under the race detector.
const raceEnabled = true
