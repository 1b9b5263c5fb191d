package api

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the coordinator's Prometheus metrics, on a registry of their
// own (never the global default one, so that tests and several servers in
// one process do not collide). The daemon updates the fields; the server
// counts its own requests and open streams and serves the registry at
// /metrics. All names start with "tabshard_".
type Metrics struct {
	Registry *prometheus.Registry

	// Tokens counts committed tokens (tabshard_tokens_total).
	Tokens prometheus.Counter
	// TokensPerSecond is the recent generation rate (tabshard_tokens_per_second).
	TokensPerSecond prometheus.Gauge
	// StageLatency is a stage's compute time per step, by stage index
	// (tabshard_stage_latency_seconds{stage}).
	StageLatency *prometheus.HistogramVec
	// HopLatency is the time an activation takes to reach a stage, by the
	// receiving stage's index (tabshard_hop_latency_seconds{stage}).
	HopLatency *prometheus.HistogramVec
	// StageHost is a stage's time per step outside its compute: from its
	// input's arrival (queueing, decoding) to its output's hand-off to the
	// bus (encoding), by stage index (tabshard_stage_host_seconds{stage}).
	StageHost *prometheus.HistogramVec
	// StepOverhead is a whole step's time less its stages' compute: the
	// hops, the stages' host time and the leader's commit and issue
	// (tabshard_step_overhead_seconds), in fine buckets for its median.
	StepOverhead prometheus.Histogram
	// RaftApply is the time a command takes through Raft on the leader,
	// from proposal to applied, by command (tabshard_raft_apply_seconds{command}).
	RaftApply *prometheus.HistogramVec
	// TokenIssue is the leader's time from a token's receipt to the next
	// step's publication (acknowledged by the activation log) or the
	// session's end: commit and issue (tabshard_token_issue_seconds{phase}
	// with phase "commit" for the token's commit and "issue" for the whole).
	TokenIssue *prometheus.HistogramVec
	// LogPublish is the time a publish to the activation log takes until
	// the log acknowledges it, by publisher (tabshard_log_publish_seconds{by}):
	// "leader" for the steps it issues.
	LogPublish *prometheus.HistogramVec
	// LogRetries counts publishes to the activation log sent again after
	// a failure or no acknowledgement, and LogLost those given up, by
	// publisher (tabshard_log_publish_retries_total{by},
	// tabshard_log_publish_lost_total{by}).
	LogRetries, LogLost *prometheus.CounterVec
	// Failovers counts stages moved to a standby (tabshard_failovers_total).
	Failovers prometheus.Counter
	// RejectedMessages counts fenced or malformed messages, by reason
	// (tabshard_rejected_messages_total{reason}), e.g. "stale_epoch".
	RejectedMessages *prometheus.CounterVec
	// SessionsActive is the number of sessions generating (tabshard_sessions_active).
	SessionsActive prometheus.Gauge
	// SessionsQueued is the number of sessions waiting for a slot
	// (tabshard_sessions_queued).
	SessionsQueued prometheus.Gauge
	// SessionsRejected counts sessions refused with 429: the queue was
	// full or the wait too long (tabshard_sessions_rejected_total).
	SessionsRejected prometheus.Counter
	// SessionsCancelled counts sessions ended because their client went
	// away (tabshard_sessions_cancelled_total).
	SessionsCancelled prometheus.Counter
	// StepsReissued counts steps the leader issued again, by reason:
	// "stalled" (no progress within the step timeout) or "epoch" (every
	// pending step once a new epoch's primaries are ready, or a new
	// leader starts) (tabshard_steps_reissued_total{reason}).
	StepsReissued *prometheus.CounterVec
	// QueueWait is the time an admitted session waited for its slot
	// (tabshard_session_queue_seconds).
	QueueWait prometheus.Histogram
	// StageBatch is how many sessions' steps a stage ran in one batch, by
	// stage index (tabshard_stage_batch_size{stage}).
	StageBatch *prometheus.HistogramVec

	// HTTPRequests counts answered requests by route pattern and status
	// (tabshard_http_requests_total{route,code}); the server updates it.
	HTTPRequests *prometheus.CounterVec
	// HTTPStreams is the number of open SSE and WebSocket streams
	// (tabshard_http_streams_active); the server updates it.
	HTTPStreams prometheus.Gauge

	raft atomic.Pointer[func() RaftStatus]
}

// RaftStatus is what the Raft gauges report.
type RaftStatus struct {
	// State numbers hashicorp/raft's RaftState: 0 follower, 1 candidate,
	// 2 leader, 3 shutdown.
	State       int
	Term        uint64
	CommitIndex uint64
}

// latencyBuckets span 100 µs to ~6.5 s.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 17)

// fineBuckets span 20 µs to ~4 s in steps of 25 %: fine enough for a
// median of the token loop's parts.
var fineBuckets = prometheus.ExponentialBuckets(0.00002, 1.25, 55)

func fineHistogram(name, help string, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "tabshard", Name: name, Help: help, Buckets: fineBuckets,
	}, labels)
}

// NewMetrics returns the metrics registered on a new registry, with the Go
// runtime and process collectors beside them.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry:        prometheus.NewRegistry(),
		Tokens:          counter("tokens_total", "Committed tokens."),
		TokensPerSecond: gauge("tokens_per_second", "Recent token generation rate."),
		StageLatency:    histogram("stage_latency_seconds", "Compute time of one stage step.", "stage"),
		HopLatency:      histogram("hop_latency_seconds", "Time an activation takes to reach a stage.", "stage"),
		StageHost:       histogram("stage_host_seconds", "Time of one stage step outside compute (queueing, decoding, encoding).", "stage"),
		StepOverhead: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "tabshard", Name: "step_overhead_seconds",
			Help: "Time of a step less its stages' compute: hops, host time, commit and issue.", Buckets: fineBuckets}),
		RaftApply:         fineHistogram("raft_apply_seconds", "Time of a command through Raft on the leader, proposal to applied.", "command"),
		TokenIssue:        fineHistogram("token_issue_seconds", "Leader's time from a token's receipt to its commit (commit) and to the next step's publication (issue).", "phase"),
		LogPublish:        fineHistogram("log_publish_seconds", "Time of a publish to the activation log until it is acknowledged.", "by"),
		LogRetries:        counterVec("log_publish_retries_total", "Publishes to the activation log sent again after a failure.", "by"),
		LogLost:           counterVec("log_publish_lost_total", "Publishes to the activation log given up after retrying.", "by"),
		Failovers:         counter("failovers_total", "Stages moved to a standby."),
		RejectedMessages:  counterVec("rejected_messages_total", "Messages rejected (fenced or malformed).", "reason"),
		SessionsActive:    gauge("sessions_active", "Sessions generating."),
		SessionsQueued:    gauge("sessions_queued", "Sessions waiting for a slot."),
		SessionsRejected:  counter("sessions_rejected_total", "Sessions refused (queue full or wait too long)."),
		StepsReissued:     counterVec("steps_reissued_total", "Steps the leader issued again.", "reason"),
		SessionsCancelled: counter("sessions_cancelled_total", "Sessions ended because their client went away."),
		QueueWait: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "tabshard", Name: "session_queue_seconds",
			Help: "Time an admitted session waited for a slot.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 17)}),
		StageBatch: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "tabshard", Name: "stage_batch_size",
			Help: "Sessions' steps a stage ran in one batch.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128}}, []string{"stage"}),
		HTTPRequests: counterVec("http_requests_total", "HTTP requests answered.", "route", "code"),
		HTTPStreams:  gauge("http_streams_active", "Open SSE and WebSocket token streams."),
	}
	m.Registry.MustRegister(m.Tokens, m.TokensPerSecond, m.StageLatency, m.HopLatency, m.StageHost, m.StepOverhead, m.RaftApply, m.TokenIssue, m.LogPublish, m.LogRetries, m.LogLost, m.Failovers,
		m.RejectedMessages, m.SessionsActive, m.SessionsQueued, m.SessionsRejected, m.SessionsCancelled, m.StepsReissued, m.QueueWait, m.StageBatch, m.HTTPRequests, m.HTTPStreams,
		m.raftGauge("raft_state", "Raft state: 0 follower, 1 candidate, 2 leader, 3 shutdown.", func(s RaftStatus) float64 { return float64(s.State) }),
		m.raftGauge("raft_term", "Current Raft term.", func(s RaftStatus) float64 { return float64(s.Term) }),
		m.raftGauge("raft_commit_index", "Raft commit index.", func(s RaftStatus) float64 { return float64(s.CommitIndex) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// SetRaftStatus sets the function the Raft gauges read at each scrape;
// until it is set they read zero.
func (m *Metrics) SetRaftStatus(f func() RaftStatus) { m.raft.Store(&f) }

func (m *Metrics) raftStatus() RaftStatus {
	if f := m.raft.Load(); f != nil {
		return (*f)()
	}
	return RaftStatus{}
}

func (m *Metrics) raftGauge(name, help string, field func(RaftStatus) float64) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(opts(name, help), func() float64 { return field(m.raftStatus()) })
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

func opts(name, help string) prometheus.GaugeOpts {
	return prometheus.GaugeOpts{Namespace: "tabshard", Name: name, Help: help}
}

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts(opts(name, help)))
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts(opts(name, help)), labels)
}

func gauge(name, help string) prometheus.Gauge { return prometheus.NewGauge(opts(name, help)) }

func histogram(name, help string, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "tabshard", Name: name, Help: help, Buckets: latencyBuckets,
	}, labels)
}
