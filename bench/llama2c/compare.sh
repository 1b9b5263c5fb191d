#!/usr/bin/env bash
# compare.sh — CPU generation speed of tabshard against llama2.c's run.c on
# the same machine, the same cores and the same weights.
#
# usage: bench/llama2c/compare.sh [RUN] [RUNOMP]
#   RUN     run.c built with `gcc -O3 -o run run.c -lm` (or $RUNC)
#   RUNOMP  optional: run.c built with `gcc -Ofast -fopenmp -march=native
#           -o runomp run.c -lm` (or $RUNOMP), run.c's multi-threaded build
# environment: REPS (runs per row, default 3), WORK (scratch folder for the
#   built binaries and converted models, default $TMPDIR/tabshard-llama2c),
#   STEPS_260K (default 256), STEPS_110M (default 128).
#
# llama2.c is not part of this repository: build run.c outside it (see
# BENCHMARKS.md). For each model — the bundled stories260K and a synthetic
# stories110M-shaped F32 model written by ./synth (model/synth, seed 1) —
# the GGUF file is converted with ./export into run.c's checkpoint and
# tokenizer, then both programs generate greedily (temperature 0) from BOS
# for the same number of steps, REPS times each, interleaved.
#
# Like with like: run.c prints "achieved tok/s" = (steps-1) / time from the
# end of the first forward pass to the end of the last; tabshard's
# `generate` prints "decode N tokens/s" = (sampled-1) / time from the first
# sampled token to the last. Both therefore count forward passes 2..steps
# and leave out loading, the first pass and process start. The synthetic
# model keeps its control tokens' logits near zero, so neither program
# stops early on BOS; the script checks that both printed the same text.
#
# Threads: run.c built with -O3 alone is single-threaded; GOMAXPROCS=1
# gives tabshard one core. The "all cores" rows give tabshard every core and
# the OpenMP build OMP_NUM_THREADS = every core.
set -euo pipefail

RUN=${1:-${RUNC:-}}
RUNOMP=${2:-${RUNOMP:-}}
if [[ -z $RUN || ! -x $RUN ]]; then
	echo "usage: $0 path/to/run [path/to/runomp]   (run.c built with gcc -O3)" >&2
	exit 2
fi
REPS=${REPS:-3}
STEPS_260K=${STEPS_260K:-256}
STEPS_110M=${STEPS_110M:-128}
WORK=${WORK:-${TMPDIR:-/tmp}/tabshard-llama2c}
CORES=$(nproc)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$WORK"

cd "$ROOT"
go build -o "$WORK/tabshard" ./cmd/tabshard
go build -o "$WORK/export" ./bench/llama2c/export
go build -o "$WORK/synth" ./bench/llama2c/synth

# prepare NAME GGUF: converts GGUF to $WORK/NAME.bin and $WORK/NAME.tok.
prepare() {
	"$WORK/export" -model "$2" -checkpoint "$WORK/$1.bin" -tokenizer "$WORK/$1.tok"
}

cp model/bundled/stories260K.gguf "$WORK/stories260K.gguf"
prepare stories260K "$WORK/stories260K.gguf"
"$WORK/synth" -out "$WORK/synth110M.gguf" -shape stories110M -type f32 -seed 1
prepare synth110M "$WORK/synth110M.gguf"

# runc BIN THREADS NAME STEPS: prints run.c's tok/s; its text goes to $WORK/out.runc.
runc() {
	OMP_NUM_THREADS=$2 "$1" "$WORK/$3.bin" -z "$WORK/$3.tok" -t 0 -n "$4" \
		>"$WORK/out.runc" 2>"$WORK/err.runc"
	rate "$WORK/err.runc" 's/^achieved tok\/s: //p'
}

# tabshard THREADS NAME STEPS: prints tabshard's decode tokens/s.
tabshard() {
	GOMAXPROCS=$1 "$WORK/tabshard" generate --model "$WORK/$2.gguf" --steps "$3" \
		--temperature 0 --seed 1 >"$WORK/out.tabshard" 2>"$WORK/err.tabshard"
	rate "$WORK/err.tabshard" 's/.*decode \([0-9.]*\) tokens\/s.*/\1/p'
}

# rate FILE SED: prints the rate SED finds in FILE, or fails showing FILE.
rate() {
	local r
	r=$(sed -n "$2" "$1")
	if [[ -z $r ]]; then
		echo "no tokens/s reported:" >&2
		cat "$1" >&2
		return 1
	fi
	echo "$r"
}

# stats: median and best of the numbers on stdin, and the runs themselves.
stats() {
	sort -g | awk '{v[NR] = $1} END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		runs = sprintf("%.1f", v[1]); for (i = 2; i <= NR; i++) runs = runs sprintf(", %.1f", v[i])
		printf "%.1f | %.1f | %s", m, v[NR], runs }'
}

declare -A RESULTS
same_text=()

# measure NAME STEPS: fills RESULTS[NAME,program,threads] with REPS numbers.
measure() {
	local name=$1 steps=$2 rep key
	for ((rep = 0; rep < REPS; rep++)); do
		RESULTS[$name,run,1]+="$(runc "$RUN" 1 "$name" "$steps") "
		RESULTS[$name,tabshard,1]+="$(tabshard 1 "$name" "$steps") "
		# run.c ends its text with a newline, as tabshard does.
		if cmp -s "$WORK/out.runc" "$WORK/out.tabshard"; then key=same; else key=different; fi
		if ((rep == 0)); then same_text+=("$name: $key"); fi
		if [[ -n $RUNOMP ]]; then
			RESULTS[$name,runomp,1]+="$(runc "$RUNOMP" 1 "$name" "$steps") "
			RESULTS[$name,runomp,$CORES]+="$(runc "$RUNOMP" "$CORES" "$name" "$steps") "
		fi
		if ((CORES > 1)); then
			RESULTS[$name,tabshard,$CORES]+="$(tabshard "$CORES" "$name" "$steps") "
		fi
	done
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
measure stories260K "$STEPS_260K"
measure synth110M "$STEPS_110M"

label() {
	case $1 in
	run) echo "llama2.c run.c (gcc -O3)" ;;
	runomp) echo "llama2.c run.c (gcc -Ofast -fopenmp -march=native)" ;;
	tabshard) echo "tabshard generate" ;;
	esac
}

echo
echo "| model | steps | program | threads | tok/s median | tok/s best | runs |"
echo "| --- | ---: | --- | ---: | ---: | ---: | --- |"
for name in stories260K synth110M; do
	steps=$STEPS_260K
	[[ $name == synth110M ]] && steps=$STEPS_110M
	for threads in 1 "$CORES"; do
		for prog in run runomp tabshard; do
			key=$name,$prog,$threads
			[[ -n ${RESULTS[$key]:-} ]] || continue
			[[ $prog == run && $threads != 1 ]] && continue
			echo "| $name | $steps | $(label $prog) | $threads | $(tr ' ' '\n' <<<"${RESULTS[$key]}" | grep . | stats) |"
		done
	done
done | awk '!seen[$0]++'
echo
echo "text printed by run.c and tabshard (greedy): ${same_text[*]}"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $CORES cores; $(date -u +%Y-%m-%d);" \
	"load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
