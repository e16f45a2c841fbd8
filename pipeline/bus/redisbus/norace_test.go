//go:build !race

package redisbus_test

// raceEnabled is false without the race detector: the full universal suite runs.
const raceEnabled = false
