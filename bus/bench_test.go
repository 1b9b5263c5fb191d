//go:build !js

package bus

import (
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// BenchmarkHop measures one hop of a decode-step activation (16 KiB of f16
// hidden state) over loopback TCP: from the sender's Publish call to the
// receiver's decoded message, sender and receiver on separate connections.
// It reports the median and 99th percentile in microseconds; the jetstream
// cases also report the median time until the log acknowledged the write.
// Sender and receiver are workers with the credentials a join issues (the
// server checks each publish against their permissions).
//
//	go test -run '^$' -bench Hop -benchtime 2000x ./bus/
func BenchmarkHop(b *testing.B) {
	a := act("bench", 1, 0, 1, 1)
	a.Payload = make([]byte, 16<<10)
	a.Shape = []uint32{1, 8192}
	b.Run("core", func(b *testing.B) {
		srv := startServer(b, ServerConfig{Port: 0, WebSocketPort: -1})
		pub, sub := dial(b, srv.ClientURL(), workerCreds(b, "bench", "w1")...), dial(b, srv.ClientURL(), workerCreds(b, "bench", "w2")...)
		subject := Subjects{Cluster: "bench"}.Activation("bench", 1, "w1") // no stream captures it
		hop(b, sub, subject, func() error { return Publish(pub, subject, a) })
	})
	for _, file := range []bool{false, true} {
		name := map[bool]string{false: "jetstream-memory", true: "jetstream-file"}[file]
		b.Run(name, func(b *testing.B) {
			cfg := ServerConfig{Port: 0, WebSocketPort: -1}
			if file {
				cfg.JetStreamDir = b.TempDir()
			}
			srv := startServer(b, cfg)
			pub, sub := dial(b, srv.ClientURL(), workerCreds(b, "c", "w1")...), dial(b, srv.ClientURL(), workerCreds(b, "c", "w2")...)
			openLog(b, srv, dial(b, srv.ClientURL()))
			ctx := testContext(b)
			log, err := AttachLog(ctx, pub, "c", nil)
			if err != nil {
				b.Fatal(err)
			}
			var acks []time.Duration
			hop(b, sub, log.Subjects().Activation("bench", 1, "w1"), func() error {
				t0 := time.Now()
				err := log.Publish(ctx, a)
				acks = append(acks, time.Since(t0))
				return err
			})
			b.ReportMetric(micros(percentile(acks, 0.5)), "ack-p50-µs")
		})
	}
	// Three routed servers (coordinators with --nats-routes), the log in
	// three copies: sender and receiver on different servers.
	b.Run("jetstream-cluster-r3", func(b *testing.B) {
		servers := startCluster(b, 3, nil)
		pub, sub := dial(b, servers[0].ClientURL()), dial(b, servers[1].ClientURL())
		log := openClusterLog(b, pub, servers[0].LogOptions())
		ctx := testContext(b)
		var acks []time.Duration
		hop(b, sub, log.Subjects().Activation("bench", 1, a.GetProducerWorkerId()), func() error {
			t0 := time.Now()
			err := log.Publish(ctx, a)
			acks = append(acks, time.Since(t0))
			return err
		})
		b.ReportMetric(micros(percentile(acks, 0.5)), "ack-p50-µs")
	})
}

// hop runs send b.N times, each time waiting for the receiver, and reports
// the latency percentiles.
func hop(b *testing.B, sub *nats.Conn, subject string, send func() error) {
	got := make(chan time.Time, 1)
	s, err := Subscribe(sub, subject, func() *tabshardv1.Activation { return new(tabshardv1.Activation) },
		func(*tabshardv1.Activation, *nats.Msg) { got <- time.Now() })
	if err != nil {
		b.Fatal(err)
	}
	defer s.Unsubscribe()
	if err := sub.Flush(); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.SetBytes(16 << 10)
	for b.Loop() {
		t0 := time.Now()
		if err := send(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-got).Sub(t0))
	}
	b.ReportMetric(micros(percentile(lat, 0.5)), "p50-µs")
	b.ReportMetric(micros(percentile(lat, 0.99)), "p99-µs")
}

func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(int(q*float64(len(s))), len(s)-1)]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
