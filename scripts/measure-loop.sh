#!/usr/bin/env bash
# Where a token's time goes natively (issue 13): the stories110M shape (synthetic, seeded q4_k
# weights) over 4 stages, with 3 coordinators (--raft-peers, --nats-routes: Raft and the activation
# log in three copies) and 4 `tabshard worker` processes, measured with `tabshard measure` at the
# Raft leader, first with the direct token loop (the default), then with --leader-issues-steps
# (the leader commits each token, then issues the next step), alternately ROUNDS times (default 2).
# usage: scripts/measure-loop.sh   (ROUNDS=N, TOKENS=N, KEEP=1 keeps logs and data; CORES=0-3 pins
# every process to those cores with taskset; TABSHARD=path uses that binary instead of building one,
# e.g. on a machine without Go: xz -dc .gpu/pipeline/tabshard.xz > /tmp/ts && chmod +x /tmp/ts)
set -u
cd "$(dirname "$0")/.." || exit 1
if [ -n "${TABSHARD:-}" ]; then TS=$TABSHARD; else go build -o bin/tabshard ./cmd/tabshard || exit 1; TS=bin/tabshard; fi
[ -n "${CORES:-}" ] && TS="taskset -c $CORES $TS"
D=$(mktemp -d)
PEERS=c1=127.0.0.1:17891,c2=127.0.0.1:17892,c3=127.0.0.1:17893
ROUTES=c1=127.0.0.1:16121,c2=127.0.0.1:16122,c3=127.0.0.1:16123
$TS synth --preset stories110m --weights seeded --out "$D/stories110m.gguf" > /dev/null || exit 1
cleanup() {
	for p in "$D"/*.pid; do [ -e "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; wait 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "logs and data in $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT
start() { # $1: extra flags of the coordinators
	rm -rf "$D"/c? "$D"/*.pid
	for n in 1 2 3; do
		$TS up --model "$D/stories110m.gguf" --node-id "c$n" --local-workers 0 --min-workers 4 --stages 4 --standbys 0 \
			--data-dir "$D/c$n" --http "127.0.0.1:1828$n" --nats-port "1443$n" --nats-ws-port -1 --raft-bind "127.0.0.1:1789$n" \
			--raft-peers $PEERS --nats-routes $ROUTES --join-token secret $1 >> "$D/c$n.out" 2>> "$D/c$n.err" &
		echo $! > "$D/c$n.pid"
	done
	for n in 1 2 3; do for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:1828$n/healthz" > /dev/null && break; sleep 0.1; done; done
	for i in 1 2 3 4; do
		$TS worker --coordinator "http://127.0.0.1:1828$(( (i - 1) % 3 + 1 ))" --join-token secret --name "p$i" 2>> "$D/w$i.err" &
		echo $! > "$D/w$i.pid"
	done
	$TS measure --coordinator http://127.0.0.1:18281 --prompt-tokens 16 --tokens 4 --runs 1 > /dev/null 2>&1 # warm-up: plan, loads
}
stop() { for p in "$D"/*.pid; do kill "$(cat "$p")" 2>/dev/null; done; wait 2>/dev/null; }
leader() {
	for n in 1 2 3; do
		curl -s "http://127.0.0.1:1828$n/metrics" | grep -q '^tabshard_raft_state 2' && { echo "http://127.0.0.1:1828$n"; return; }
	done
	echo http://127.0.0.1:18281
}
for round in $(seq 1 "${ROUNDS:-2}"); do
	for mode in direct --leader-issues-steps; do
		flags=""; [ "$mode" != direct ] && flags=$mode
		start "$flags"
		echo "== round $round, $mode, $(uptime | sed 's/.*load/load/')"
		$TS measure --coordinator "$(leader)" --prompt-tokens 16 --tokens "${TOKENS:-64}" --runs 3 2> /dev/null | grep -v '^json'
		stop
	done
done
