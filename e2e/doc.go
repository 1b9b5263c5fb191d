// Package e2e runs whole tabshard clusters in one process and injects
// faults into them: the end-to-end shard simulations behind the tests of
// this package, `tabshard sim` and the failover benchmark.
//
// A Cluster is one embedded NATS server (standing in for an external NATS
// cluster: every coordinator connects to it by URL), K coordinators
// (coordinator.Start, Raft over raft.NewInmemTransport, each with its own
// data directory) and N workers (agent.Run), all the code the binaries run.
// Each worker reaches NATS through a dialer whose connections can be cut:
// a partition holds every byte both ways, as a cut cable under TCP would,
// and delivers it late when it heals.
//
// The harness's client streams completions over SSE from one coordinator
// and, when the stream breaks, resumes it at another with Last-Event-ID; it
// records every event and flags any that is not the next one (a token lost
// or repeated). Faults (see Fault) fire when the first client has seen a
// given token, after a seeded jitter of a few milliseconds; the seed also
// picks among workers when a fault names several. Everything the cluster
// decides (leaders, joins, expiries, epochs, failovers, fenced messages,
// replays) lands on a Timeline, read from the daemons' own logs.
//
// The tests check each scenario against llama2.c's output for stories260K
// (testdata/stories260K): the greedy "Once upon a time" run and the sampled
// run with no prompt, streamed at once; see GreedyOracle and SampledOracle
// for how the sampled run is requested through the API, which refuses an
// empty prompt.
package e2e
