#!/usr/bin/env bash
# kill -9 of any coordinator, with the embedded bus, leaves a streamed completion's text unchanged:
# three coordinators (--raft-peers, and --nats-routes so that their embedded NATS servers form one
# cluster with the activation log in three copies), four `tabshard worker` processes (3 stages + a
# standby) spread over them, one streamed completion without a fault; then, for each coordinator N
# in turn (or only the one given), the same completion streamed from N, N killed with kill -9
# mid-stream, the stream resumed at another coordinator with Last-Event-ID, the texts compared, and
# N restarted from its data before the next one.
# usage: scripts/kill9-coordinator.sh [N]   (KEEP=1 keeps the logs and data directories)
set -u
cd "$(dirname "$0")/.." && go build -o bin/tabshard ./cmd/tabshard || exit 1
TS=bin/tabshard; D=$(mktemp -d)
PEERS=c1=127.0.0.1:17991,c2=127.0.0.1:17992,c3=127.0.0.1:17993
ROUTES=c1=127.0.0.1:16221,c2=127.0.0.1:16222,c3=127.0.0.1:16223
addr() { echo "127.0.0.1:1818$1"; }
start() {
	$TS up --node-id "c$1" --local-workers 0 --min-workers 4 --stages 3 --standbys 1 --data-dir "$D/c$1" \
		--http "$(addr "$1")" --nats-port "1433$1" --nats-ws-port -1 --raft-bind "127.0.0.1:1799$1" \
		--raft-peers $PEERS --nats-routes $ROUTES --join-token secret >> "$D/c$1.out" 2>> "$D/c$1.err" &
	echo $! > "$D/c$1.pid"
}
healthy() { curl -sf "http://$(addr "$1")/healthz" > /dev/null; }
wait_healthy() { for _ in $(seq 1 300); do healthy "$1" && return 0; sleep 0.1; done; echo "c$1 not healthy"; return 1; }
cleanup() {
	for p in "$D"/*.pid; do kill "$(cat "$p")" 2>/dev/null; done; wait 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "logs and data in $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT
for n in 1 2 3; do start $n; done
for n in 1 2 3; do wait_healthy $n || exit 1; done
for i in 1 2 3 4; do
	$TS worker --coordinator "http://$(addr $(( (i - 1) % 3 + 1 )))" --join-token secret --name "p$i" 2> "$D/w$i.err" &
	echo $! > "$D/w$i.pid"
done
req='{"prompt": "Once upon a time", "max_tokens": 400, "temperature": 0, "stream": true}'
complete() { curl -s -N "http://$(addr "$1")/v1/completions" -H 'Content-Type: application/json' -d "$req" "${@:2}"; }
# text of the complete events with ids up to $2 (all by default) in the SSE file $1
text() {
	awk -v last="${2:-999999}" '/^id: /{id=$2} /^data: \{.*\}$/ && id<=last' "$1" |
		sed 's/.*"text":"\(.*\)","index".*/\1/' | tr -d '\n'
}
for _ in $(seq 1 100); do
	start=$(date +%s.%N)
	complete 1 > "$D/ref.sse"; grep -q '^data: \[DONE\]' "$D/ref.sse" && break; sleep 0.3
done
echo "reference: $(grep -c '^id:' "$D/ref.sse") events in $(echo "$(date +%s.%N) - $start" | bc | cut -c1-5)s without a fault"
status=0
for victim in ${1:-1 2 3}; do
	other=$(( victim % 3 + 1 ))
	complete "$victim" -D "$D/h$victim" > "$D/run$victim.sse" &
	CURL=$!
	for _ in $(seq 1 400); do grep -q '^id: 3$' "$D/run$victim.sse" 2>/dev/null && break; sleep 0.005; done
	pid=$(cat "$D/c$victim.pid"); rm "$D/c$victim.pid"
	kill -9 "$pid"; wait "$pid" 2>/dev/null
	wait $CURL
	session=$(tr -d '\r' < "$D/h$victim" | awk -F': ' 'tolower($1)=="x-tabshard-session"{print $2}')
	resume=$(tr -d '\r' < "$D/h$victim" | awk -F': ' 'tolower($1)=="x-tabshard-resume-token"{print $2}')
	last=$(awk '/^id: /{id=$2} /^data: \{.*\}$/{done=id} END{print done}' "$D/run$victim.sse")
	echo "killed c$victim (kill -9) after event $last of session $session; resuming at c$other"
	start=$(date +%s.%N)
	for _ in $(seq 1 100); do
		curl -sf -N "http://$(addr $other)/v1/sessions/$session/events" -H "Last-Event-ID: $last" -H "X-Tabshard-Resume-Token: $resume" > "$D/resume$victim.sse" &&
			grep -q '^data: \[DONE\]' "$D/resume$victim.sse" && break
		sleep 0.3
	done
	got="$(text "$D/run$victim.sse" "$last")$(text "$D/resume$victim.sse")"
	secs=$(echo "$(date +%s.%N) - $start" | bc | cut -c1-5)
	if [ "$got" == "$(text "$D/ref.sse")" ]; then
		echo "c$victim: SAME TEXT ($(grep -c '^id:' "$D/resume$victim.sse") events resumed at c$other and finished ${secs}s after the kill)"
	else
		echo "c$victim: DIFFERENT"; diff <(text "$D/ref.sse") <(echo "$got") | head; status=1
	fi
	start "$victim"; wait_healthy "$victim" || exit 1
done
grep -hE "leadership|failover|expired" "$D"/c*.err | head -8
exit $status
