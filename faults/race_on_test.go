//go:build race

package faults

// raceDetector is true when the suite runs under the race detector, which
// makes ingest of very large messages some ten times slower.
const raceDetector = true
