//go:build race

package embedded_test

// raceEnabled is true under the race detector, which slows the full universal suite (50
// subscribers × 5000 messages, 15-second read deadlines) enough to miss its deadlines on a
// loaded two-core machine; the suite then runs its short variant.
const raceEnabled = true
