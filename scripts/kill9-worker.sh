#!/usr/bin/env bash
# kill -9 of a worker process during a streamed completion leaves the text unchanged:
# a coordinator with no local workers, four `tabshard worker` processes (3 stages + a standby),
# one streamed completion without a fault, then the same with worker N (1-4) killed mid-stream.
# usage: scripts/kill9-worker.sh [N]
set -u
cd "$(dirname "$0")/.." && go build -o bin/tabshard ./cmd/tabshard || exit 1
TS=bin/tabshard; D=$(mktemp -d); PORT=18181
$TS up --local-workers 0 --min-workers 4 --stages 3 --standbys 1 --data-dir $D/c --http 127.0.0.1:$PORT --nats-port 14333 --nats-ws-port -1 --raft-bind 127.0.0.1:17999 --join-token secret > $D/up.out 2> $D/up.err &
UP=$!
sleep 2
for i in 1 2 3 4; do $TS worker --coordinator http://127.0.0.1:$PORT --join-token secret --name p$i 2> $D/w$i.err & echo $! > $D/w$i.pid; done
sleep 3
req='{"prompt": "Once upon a time", "max_tokens": 400, "temperature": 0, "stream": true}'
# reference: a full run with no fault
curl -s -N localhost:$PORT/v1/completions -H 'Content-Type: application/json' -d "$req" > $D/ref.sse
victim=${1:-2}
curl -s -N localhost:$PORT/v1/completions -H 'Content-Type: application/json' -d "$req" > $D/run.sse &
CURL=$!
# kill as soon as the stream has started
for _ in $(seq 1 200); do grep -q '^id: 3$' $D/run.sse 2>/dev/null && break; sleep 0.005; done
kill -9 $(cat $D/w$victim.pid); echo "killed worker p$victim after $(grep -c '^id:' $D/run.sse) events"
wait $CURL
text() { grep '^data: {' "$1" | sed 's/.*"text":"\(.*\)","index".*/\1/' | tr -d '\n'; }
if [ "$(text $D/ref.sse)" == "$(text $D/run.sse)" ]; then echo "SAME TEXT ($(grep -c '^id:' $D/run.sse) events)"; else echo "DIFFERENT"; diff <(text $D/ref.sse) <(text $D/run.sse) | head; fi
grep -E "failover|expired" $D/up.err | head -5
kill $UP; for i in 1 2 3 4; do kill $(cat $D/w$i.pid) 2>/dev/null; done; wait 2>/dev/null
