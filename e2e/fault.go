package e2e

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ErrFaultSpec is a fault specification that does not parse.
var ErrFaultSpec = errors.New("bad fault spec")

// Fault is one fault to inject when the client has seen a token.
//
//	kill:stage=S@token=T          crash the primary of stage S
//	kill:standby=S@token=T        crash a standby of stage S (the seed picks which)
//	kill:worker=N@token=T         crash worker wN
//	kill:leader@token=T           crash the Raft leader
//	kill:coordinator=N@token=T    crash coordinator cN (with EmbeddedBus, its NATS server too)
//	partition:stage=S@token=A-B   cut the primary of stage S off NATS from token A to token B
//	partition:worker=N@token=A-B  the same for worker wN
//	add:worker@token=T            start one more worker
//	restart:coordinators@token=T  stop every coordinator and start them again
//
// Stages count from 0, as the timeline prints them; S may also be first,
// middle, last or any (the seed picks).
type Fault struct {
	Spec   string
	Action string // kill, partition, add, restart
	Target string // stage, standby, worker, leader, coordinators
	Arg    string // the stage or worker named, "" for none
	At     int    // the token index the fault fires at
	Until  int    // partitions: the token index the partition heals at
}

func (f Fault) String() string { return f.Spec }

// ParseFault parses one fault specification.
func ParseFault(spec string) (Fault, error) {
	f := Fault{Spec: spec}
	bad := func(format string, args ...any) (Fault, error) {
		return Fault{}, fmt.Errorf("%w %q: %s", ErrFaultSpec, spec, fmt.Sprintf(format, args...))
	}
	what, when, ok := strings.Cut(spec, "@")
	if !ok {
		return bad("want ACTION:TARGET@token=N, e.g. kill:stage=2@token=40")
	}
	action, target, ok := strings.Cut(what, ":")
	if !ok {
		return bad("want ACTION:TARGET before '@', e.g. kill:stage=2")
	}
	f.Action = action
	f.Target, f.Arg, _ = strings.Cut(target, "=")
	if err := f.checkTarget(); err != nil {
		return bad("%v", err)
	}
	if err := f.parseWhen(when); err != nil {
		return bad("%v", err)
	}
	return f, nil
}

// targets lists, per action, the targets it takes and whether they need
// an argument.
var targets = map[string]map[string]bool{
	"kill":      {"stage": true, "standby": true, "worker": true, "leader": false, "coordinator": true},
	"partition": {"stage": true, "worker": true},
	"add":       {"worker": false},
	"restart":   {"coordinators": false},
}

func (f *Fault) checkTarget() error {
	ts, ok := targets[f.Action]
	if !ok {
		return fmt.Errorf("unknown action %q (kill, partition, add, restart)", f.Action)
	}
	needsArg, ok := ts[f.Target]
	switch {
	case !ok:
		return fmt.Errorf("%s takes no target %q (one of %s)", f.Action, f.Target, strings.Join(slices.Sorted(maps.Keys(ts)), ", "))
	case needsArg && f.Arg == "":
		return fmt.Errorf("%s:%s needs a value, e.g. %s:%s=1", f.Action, f.Target, f.Action, f.Target)
	case !needsArg && f.Arg != "":
		return fmt.Errorf("%s:%s takes no value", f.Action, f.Target)
	}
	switch f.Target {
	case "stage", "standby":
		if _, ok := stageWords[f.Arg]; ok {
			return nil
		}
		if n, err := strconv.Atoi(f.Arg); err != nil || n < 0 {
			return fmt.Errorf("stage %q: want a stage index from 0, or first, middle, last, any", f.Arg)
		}
	case "coordinator":
		if n, err := strconv.Atoi(strings.TrimPrefix(f.Arg, "c")); err != nil || n < 1 {
			return fmt.Errorf("coordinator %q: want a coordinator number from 1 (c1, c2, ...)", f.Arg)
		}
	case "worker":
		if f.Arg == "" {
			return nil
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(f.Arg, "w")); err != nil || n < 1 {
			return fmt.Errorf("worker %q: want a worker number from 1 (w1, w2, ... as the timeline names them)", f.Arg)
		}
	}
	return nil
}

var stageWords = map[string]bool{"first": true, "middle": true, "last": true, "any": true}

func (f *Fault) parseWhen(when string) error {
	v, ok := strings.CutPrefix(when, "token=")
	if !ok {
		return fmt.Errorf("want @token=N after the target, got @%s", when)
	}
	from, to, isRange := strings.Cut(v, "-")
	var err error
	if f.At, err = strconv.Atoi(from); err != nil || f.At < 0 {
		return fmt.Errorf("token %q: want a token index from 0", from)
	}
	switch {
	case f.Action == "partition" && !isRange:
		return fmt.Errorf("a partition needs the token it heals at: @token=%d-M", f.At)
	case f.Action != "partition" && isRange:
		return fmt.Errorf("only partitions take a token range")
	case isRange:
		if f.Until, err = strconv.Atoi(to); err != nil || f.Until <= f.At {
			return fmt.Errorf("token range %q: want A-B with B > A", v)
		}
	}
	return nil
}

// Check reports a fault that cannot apply to a cluster of stages stages.
func (f Fault) Check(stages int) error {
	if f.Target != "stage" && f.Target != "standby" {
		return nil
	}
	if n, err := strconv.Atoi(f.Arg); err == nil && n >= stages {
		return fmt.Errorf("%w %q: stage %d, but the plan has stages 0-%d", ErrFaultSpec, f.Spec, n, stages-1)
	}
	return nil
}

// stage resolves the fault's stage argument; any uses pick.
func (f Fault) stage(stages int, pick func(int) int) int {
	switch f.Arg {
	case "first":
		return 0
	case "middle":
		return stages / 2
	case "last":
		return stages - 1
	case "any":
		return pick(stages)
	}
	n, _ := strconv.Atoi(f.Arg)
	return n
}

// coordinator is the coordinator id the fault names ("c2").
func (f Fault) coordinator() string { return "c" + strings.TrimPrefix(f.Arg, "c") }

// worker is the worker id the fault names ("w3").
func (f Fault) worker() string { return "w" + strings.TrimPrefix(f.Arg, "w") }
