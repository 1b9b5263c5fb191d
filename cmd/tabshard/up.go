package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/tabshard/tabshard/bus"
	"github.com/tabshard/tabshard/coordinator"
	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
	"github.com/tabshard/tabshard/worker/agent"
)

func runUp(ctx context.Context, e *env, args []string) error {
	cfg := coordinator.DefaultConfig()
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.StringVar(&cfg.NodeID, "node-id", cfg.NodeID, "this coordinator's Raft id")
	fs.StringVar(&cfg.DataDir, "data-dir", "tabshard-data", "Raft log, snapshots, join token and JetStream data (\"\" keeps all in memory)")
	fs.StringVar(&cfg.ModelPath, "model", "", "GGUF model to serve (default: the bundled stories260K)")
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "HTTP API address")
	fs.StringVar(&cfg.JoinToken, "join-token", "", "the token workers must present (default: the cluster's, set by its first leader; each coordinator writes it to --data-dir/join-token); visible in ps: prefer --join-token-file or $"+envJoinToken)
	tokenFile := fs.String("join-token-file", "", "file holding the join token (or set $"+envJoinToken+")")
	apiKeyFile := fs.String("api-key-file", "", "API keys, one a line (KEY or NAME KEY): /v1/ requests must send one as Authorization: Bearer KEY (default: the API is open; sessions stay private by resume token)")
	adminKeyFile := fs.String("admin-key-file", "", "admin keys, one a line: they read every session and see prompts and generated tokens in /api/state and the dashboard")
	var hosts hostList
	fs.Var(&hosts, "public-host", "a host name clients and workers reach the HTTP API by (repeatable); other names in the Host header are refused (DNS rebinding); localhost and IP addresses are always allowed")
	fs.DurationVar(&cfg.SessionRetention, "session-retention", coordinator.DefaultSessionRetention, "how long a finished session's activation log is kept before it is purged")
	fs.DurationVar(&cfg.LogMaxAge, "log-max-age", 0, fmt.Sprintf("drop logged activations older than this, whatever their session (0: %v)", bus.DefaultLogMaxAge))
	fs.Int64Var(&cfg.LogMaxBytes, "log-max-bytes", 0, fmt.Sprintf("bound the activation log's bytes, the oldest dropped first (0: %d on disk, %d in memory)", bus.DefaultLogMaxBytes, bus.DefaultMemoryLogMaxBytes))
	fs.StringVar(&cfg.Cluster, "cluster", cfg.Cluster, "cluster name (NATS subject prefix)")
	fs.StringVar(&cfg.NATSURL, "nats", "", "use this NATS cluster instead of the embedded server (needs --nats-account-key-file; docs/security.md)")
	accountKeyFile := fs.String("nats-account-key-file", "", "with --nats: file holding the seed (SA...) of the NATS account made for tabshard; coordinators sign user JWTs with it")
	var origins repeated
	fs.Var(&origins, "allow-origin", "a page origin (scheme://host:port) besides this coordinator's own allowed to open the NATS WebSocket (repeatable)")
	fs.IntVar(&cfg.NATSPort, "nats-port", cfg.NATSPort, "embedded NATS TCP port for native workers (-1: none)")
	fs.IntVar(&cfg.NATSWebSocketPort, "nats-ws-port", cfg.NATSWebSocketPort, "embedded NATS WebSocket port for tabs (-1: none)")
	var natsCluster natsClusterFlags
	natsCluster.register(fs, &cfg)
	fs.StringVar(&cfg.RaftBind, "raft-bind", cfg.RaftBind, "Raft TCP address")
	peers := fs.String("raft-peers", "", "initial Raft voters, comma-separated id=host:port, this node included (3 or 5 for a cluster)")
	fs.StringVar(&cfg.RaftJoin, "join", "", "join a running cluster through a coordinator's HTTP URL: its leader adds this node (needs --join-token and --nats)")
	fs.DurationVar(&cfg.CredentialTTL, "credential-ttl", coordinator.DefaultCredentialTTL, "how long a worker's bus credentials are valid (renewed at half their life)")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", cfg.Heartbeat, "how often workers report")
	fs.DurationVar(&cfg.Lease, "lease", cfg.Lease, "how long a worker may be silent before it is expired")
	fs.BoolVar(&cfg.LeaderIssuesSteps, "leader-issues-steps", false, "put the leader back on every token's path: it commits each token, then issues the next step (by default the last stage sends each token straight to the first stage and the leader commits behind)")
	fs.DurationVar(&cfg.StallNotice, "stall-notice", cfg.StallNotice, "how long a stream waits without progress while a stage has no worker before the client gets an error event saying what is missing")
	fs.IntVar(&cfg.MinWorkers, "min-workers", 0, "workers the first plan waits for (default: --local-workers; with none, the first plan is made once no worker has joined for --plan-wait)")
	fs.DurationVar(&cfg.PlanWait, "plan-wait", cfg.PlanWait, "with --min-workers 0: the first plan is made once no worker (tab) has joined for this long, over every worker present")
	fs.IntVar(&cfg.Stages, "stages", 0, "stages of the first plan (0: one per worker present, less the standbys)")
	fs.IntVar(&cfg.Standbys, "standbys", 0, "standbys per stage")
	fs.IntVar(&cfg.Context, "context", 0, "positions each session may use (0: the model's context length)")
	fs.IntVar(&cfg.MaxSessions, "max-sessions", cfg.MaxSessions, "sessions generating at once: every stage holds a KV cache for each, never evicted")
	kvType := fs.String("kv-type", "f32", "KV cache type: f32 (every backend), or f16 / q8_0 (half or about a quarter of the memory; CPU workers only, WebGPU tabs store f32)")
	actType := fs.String("activation-type", "f32", "type hidden states travel between stages as: f32 (exact) or f16 (half the bytes, rounded at every hop)")
	fs.IntVar(&cfg.MaxQueued, "max-queued", cfg.MaxQueued, "sessions waiting for a slot, in FIFO order; past them a request gets 429 with Retry-After")
	fs.DurationVar(&cfg.QueueWait, "queue-wait", cfg.QueueWait, "the longest a session waits for a slot before a 429")
	fs.DurationVar(&cfg.ResumeWindow, "resume-window", coordinator.DefaultResumeWindow, "how long a session whose client went away waits for it to resume before it is cancelled")
	fs.StringVar(&cfg.ModelServerURL, "model-server", "", "the model file's URL on a model server of another origin (tabshard serve-model prints it): workers read the model there, with grants this coordinator signs")
	keyFile := fs.String("model-key-file", "", "file of the key grants are signed with, shared with the model server (at least 32 bytes; needs --model-server)")
	local := fs.Int("local-workers", 3, "in-process workers to start")
	verbose := fs.Bool("v", false, "log debug detail")
	rest, err := parseFlags(fs, e, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErr("unexpected argument %q", rest[0])
	}
	if cfg.KVType, err = parseKVType(*kvType); err != nil {
		return err
	}
	if cfg.ActivationType, err = parseActivationType(*actType); err != nil {
		return err
	}
	if *peers != "" {
		cfg.RaftPeers = strings.Split(*peers, ",")
	}
	if err := natsCluster.apply(&cfg); err != nil {
		return err
	}
	if err := modelServerFlags(&cfg, *keyFile); err != nil {
		return err
	}
	cfg.AllowOrigins = origins
	if err := natsAccountFlag(&cfg, *accountKeyFile); err != nil {
		return err
	}
	if cfg.JoinToken, err = joinToken(cfg.JoinToken, *tokenFile, os.Getenv); err != nil {
		return err
	}
	if err := apiAccessFlags(&cfg, *apiKeyFile, *adminKeyFile); err != nil {
		return err
	}
	cfg.PublicHosts = hosts
	if *local < 0 {
		return usageErr("--local-workers %d is negative", *local)
	}
	if cfg.MinWorkers == 0 {
		cfg.MinWorkers = *local // 0: plan once no worker has joined for --plan-wait
	}
	if cfg.Stages == 0 && *local > 0 {
		cfg.Stages = max(*local-cfg.Standbys, 1)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	c, err := coordinator.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	printBanner(e, cfg.NodeID, c)
	if len(cfg.NATSRoutes) > 0 {
		fmt.Fprintf(e.stdout, "  nats cluster: %d servers (routes %s), activation log in %d copies\n", len(cfg.NATSRoutes), strings.Join(cfg.NATSRoutes, ","), min(len(cfg.NATSRoutes), bus.LogReplicas))
	}
	if cfg.ModelServerURL != "" {
		fmt.Fprintf(e.stdout, "  model:      %s (workers read it with grants from %s/api/model-grant)\n", cfg.ModelServerURL, c.HTTPURL())
		go func() {
			if err := checkModelServer(ctx, cfg); err != nil && ctx.Err() == nil {
				cfg.Logger.Warn("the model server does not serve this coordinator's model (yet)", "url", cfg.ModelServerURL, "err", err)
			}
		}()
	}
	auth := ""
	if cfg.APIKeys != nil {
		auth = " -H 'Authorization: Bearer YOUR_KEY'"
	}
	fmt.Fprintf(e.stdout, "  try:        curl -N %s/v1/completions%s -H 'Content-Type: application/json' -d '{\"prompt\": \"Once upon a time\", \"max_tokens\": 100, \"stream\": true}'\n", c.HTTPURL(), auth)
	for i := 0; i < *local; i++ {
		go runLocalWorker(ctx, c, i, cfg.Logger)
	}
	<-ctx.Done()
	fmt.Fprintln(e.stderr, "shutting down")
	return nil
}

// printBanner says where the coordinator listens and lists every page.
func printBanner(e *env, node string, c *coordinator.Coordinator) {
	u, tok := c.HTTPURL(), c.JoinToken()
	fmt.Fprintf(e.stdout, "tabshard coordinator %s\n  http:       %s\n  nats:       %s\n  nats (ws):  %s\n  join token: %s\n",
		node, u, c.NATSURL(), c.NATSWebSocketURL(), tok)
	fmt.Fprintf(e.stdout, "  worker tab: %s/worker?token=%s\n  launcher:   %s/launcher?token=%s  (opens worker tabs)\n  chat:       %s/chat\n  dashboard:  %s/dashboard\n",
		u, tok, u, tok, u, u)
}

// runLocalWorker runs an in-process worker until ctx ends.
func runLocalWorker(ctx context.Context, c *coordinator.Coordinator, i int, log *slog.Logger) {
	cfg := agent.Config{
		Coordinator: c.HTTPURL(), JoinToken: c.JoinToken(), Name: fmt.Sprintf("local-%d", i+1),
		Capabilities: localCapabilities(0), Logger: log.With("local_worker", i+1),
	}
	for ctx.Err() == nil {
		if err := agent.Run(ctx, cfg); err != nil && ctx.Err() == nil {
			log.Error("local worker stopped; restarting", "worker", i+1, "err", err)
			time.Sleep(time.Second)
		}
	}
}

// localCapabilities describes this machine's CPU as a worker.
func localCapabilities(memory uint64) *tabshardv1.Capabilities {
	if memory == 0 {
		memory = 4 << 30
	}
	host, _ := os.Hostname()
	return &tabshardv1.Capabilities{Backend: tabshardv1.Backend_BACKEND_CPU, MemoryBudgetBytes: memory, CpuCores: uint32(numCPU()), UserAgent: "tabshard-native " + host}
}

// natsAccountFlag reads the account seed an external NATS needs.
func natsAccountFlag(cfg *coordinator.Config, path string) error {
	switch {
	case path == "" && cfg.NATSURL == "":
		return nil
	case path == "":
		return usageErr("--nats needs --nats-account-key-file PATH: the seed of the NATS account made for tabshard (docs/security.md)")
	case cfg.NATSURL == "":
		return usageErr("--nats-account-key-file needs --nats URL (the embedded server's keys derive from the cluster secret)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return usageErr("--nats-account-key-file: %v", err)
	}
	cfg.NATSAccountSeed = []byte(strings.TrimSpace(string(b)))
	return nil
}
