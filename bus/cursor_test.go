package bus

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	tabshardv1 "github.com/tabshard/tabshard/proto/tabshard/v1"
)

// logged is a log written as "first+count@epoch" items, e.g. "0+5@1 5+1@1".
func logged(s string) []*tabshardv1.Activation {
	var as []*tabshardv1.Activation
	for _, f := range strings.Fields(s) {
		var first, count uint32
		var epoch uint64
		if _, err := fmt.Sscanf(f, "%d+%d@%d", &first, &count, &epoch); err != nil {
			panic(f)
		}
		as = append(as, &tabshardv1.Activation{FirstPosition: first, TokenCount: count, Epoch: epoch})
	}
	return as
}

// rangesOf lists activations as "[first,end)@epoch".
func rangesOf(as []*tabshardv1.Activation) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = fmt.Sprintf("[%d,%d)@%d", a.GetFirstPosition(), uint64(a.GetFirstPosition())+uint64(a.GetTokenCount()), a.GetEpoch())
	}
	return strings.Join(s, " ")
}

func TestReplayCursor(t *testing.T) {
	for _, tc := range []struct {
		name     string
		log      string
		from, to uint32
		skip     uint64 // epoch the callback refuses; 0 none
		want     string
		wantErr  string
	}{
		{name: "in order", log: "0+5@1 5+1@1 6+1@1", to: 7, want: "[0,5)@1 [5,6)@1 [6,7)@1"},
		{name: "duplicates skipped", log: "0+5@1 5+1@1 5+1@2 6+1@2 5+1@2 7+1@2", to: 8, want: "[0,5)@1 [5,6)@1 [6,7)@2 [7,8)@2"},
		{name: "sub range", log: "0+5@1 5+1@1 6+1@1 7+1@1", from: 5, to: 7, want: "[5,6)@1 [6,7)@1"},
		{name: "logged out of order", log: "0+5@1 6+1@1 7+1@1 5+1@1 8+1@1", to: 9, want: "[0,5)@1 [5,6)@1 [6,7)@1 [7,8)@1 [8,9)@1"},
		{name: "to end", log: "0+2@1 2+1@1 3+1@1", from: 2, to: ReplayToEnd, want: "[2,3)@1 [3,4)@1"},
		{name: "stops at to", log: "0+2@1 2+1@1 3+1@1", to: 3, want: "[0,2)@1 [2,3)@1"},
		{name: "last may pass to", log: "0+4@1", to: 2, want: "[0,4)@1"},
		{name: "refused copy replaced", log: "0+1@2 1+1@1 1+1@2 2+1@2", to: 3, skip: 1, want: "[0,1)@2 [1,2)@2 [2,3)@2"},
		{name: "refused leaves a gap", log: "0+1@1 1+1@2", to: 2, skip: 1, wantErr: "positions [0,1) are missing"},
		{name: "refused waiting copy replaced", log: "0+1@2 2+1@2 1+1@1 1+1@2", to: 3, skip: 1, want: "[0,1)@2 [1,2)@2 [2,3)@2"},
		{name: "empty log", log: "", to: 3, wantErr: "delivered [0,0) of [0,3)"},
		{name: "gap", log: "0+2@1 3+1@1", to: 4, want: "[0,2)@1", wantErr: "positions [2,3) are missing"},
		{name: "gap to end", log: "0+2@1 3+1@1", to: ReplayToEnd, want: "[0,2)@1", wantErr: "positions [2,3) are missing"},
		{name: "short", log: "0+2@1", to: 4, want: "[0,2)@1", wantErr: "delivered [0,2) of [0,4)"},
		{name: "straddles start", log: "0+5@1", from: 3, to: 6, wantErr: "[0,5) straddles position 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []*tabshardv1.Activation
			cur := newReplayCursor(tc.from, tc.to, func(a *tabshardv1.Activation) error {
				if a.GetEpoch() == tc.skip {
					return ErrSkipActivation
				}
				got = append(got, a)
				return nil
			})
			err := feed(cur, logged(tc.log))
			if r := rangesOf(got); r != tc.want {
				t.Errorf("delivered %q, want %q", r, tc.want)
			}
			checkErr(t, err, tc.wantErr)
		})
	}
}

// feed offers the log to cur as Replay does, then finishes it.
func feed(cur *replayCursor, log []*tabshardv1.Activation) error {
	for _, a := range log {
		done, err := cur.offer(a)
		if err != nil {
			return err
		}
		if done {
			break
		}
	}
	return cur.finish()
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("err = %v", err)
	case want != "" && (!errors.Is(err, ErrReplayIncomplete) || !strings.Contains(err.Error(), want)):
		t.Errorf("err = %v, want ErrReplayIncomplete mentioning %q", err, want)
	}
}

func TestReplayCursorCallbackError(t *testing.T) {
	boom := errors.New("boom")
	cur := newReplayCursor(0, 3, func(*tabshardv1.Activation) error { return boom })
	if err := feed(cur, logged("0+1@1")); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the callback's", err)
	}
}
