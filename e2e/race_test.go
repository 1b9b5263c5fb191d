//go:build race

package e2e

// raceEnabled: the race detector slows everything several times over, so
// the tests give workers longer leases (see play).
const raceEnabled = true
