package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tabshard/tabshard/worker/agent"
)

// workerRegistry exposes a worker's agent.Metrics to Prometheus.
func workerRegistry(m *agent.Metrics) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	count := func(name, help string, v *atomic.Uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "tabshard_worker", Name: name, Help: help},
			func() float64 { return float64(v.Load()) }))
	}
	seconds := func(name, help string, v *atomic.Uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "tabshard_worker", Name: name, Help: help},
			func() float64 { return time.Duration(v.Load()).Seconds() }))
	}
	count("steps_total", "Steps the worker's stage ran and sent on.", &m.Steps)
	seconds("compute_seconds_total", "Those steps' compute.", &m.ComputeNanos)
	seconds("host_seconds_total", "Those steps' time outside compute: queueing, decoding, encoding.", &m.HostNanos)
	count("round_waits_total", "Batches the first stage held for more of its sessions' steps on their way (--round-wait).", &m.RoundWaits)
	seconds("round_wait_seconds_total", "Those holds' time.", &m.RoundWaitNanos)
	count("log_acks_total", "Outputs the activation log acknowledged.", &m.LogAcks)
	seconds("log_ack_seconds_total", "Their waits from send to acknowledgement (off the token's path).", &m.LogAckNanos)
	count("log_retries_total", "Outputs sent to the log again after a failure.", &m.LogRetries)
	count("log_lost_total", "Outputs the log never acknowledged, given up.", &m.LogLost)
	count("rejected_activations_total", "Inputs rejected: stale epoch, wrong producer, forged.", &m.RejectedActivations)
	count("dropped_activations_total", "Inputs dropped: the buffer for future epochs or loading weights was full.", &m.DroppedActivations)
	count("rejected_model_urls_total", "Announced model locations refused.", &m.RejectedModelURLs)
	count("credential_renewals_total", "Bus credentials renewed.", &m.Renewals)
	return reg
}

// serveWorkerMetrics serves m at addr's /metrics until ctx ends.
func serveWorkerMetrics(ctx context.Context, addr string, m *agent.Metrics, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(workerRegistry(m), promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("worker metrics", "err", err)
		}
	}()
	log.Info("worker metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return nil
}
