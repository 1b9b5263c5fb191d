package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tabshard/tabshard/wasmworker"
)

// report is one line of output about a tab.
type report struct {
	Event   string  `json:"event"` // ready, reloaded, status, error
	Tab     string  `json:"tab"`
	Seconds float64 `json:"seconds,omitempty"` // page opened (or reloaded) to ready
	// LoadBytesPerSecond is the stage's bytes over the worker's own
	// LoadSeconds (the stage's load alone, without the page's start).
	LoadBytesPerSecond float64 `json:"load_bytes_per_second,omitempty"`
	wasmworker.Status
}

// tab is one worker page.
type tab struct {
	name string
	ctx  context.Context
}

// status is the page's last status (window.tabshardStatus).
func (t tab) status() (wasmworker.Status, error) {
	ctx, cancel := context.WithTimeout(t.ctx, 20*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.tabshardStatus || {})`))
	if err != nil {
		return wasmworker.Status{}, fmt.Errorf("tab %s: reading its status: %w", t.name, err)
	}
	var s wasmworker.Status
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return s, fmt.Errorf("tab %s: status %s: %w", t.name, raw, err)
	}
	return s, nil
}

// waitReady polls until the tab is ready as a worker other than notID,
// reporting each new error on the way; after timeout it fails.
func (t tab) waitReady(notID string, timeout time.Duration, enc *json.Encoder) (wasmworker.Status, error) {
	deadline := time.Now().Add(timeout)
	lastErr := ""
	for {
		s, err := t.status()
		if err != nil {
			return s, err
		}
		if s.Phase == wasmworker.PhaseReady && s.WorkerID != "" && s.WorkerID != notID {
			return s, nil
		}
		if s.Error != "" && s.Error != lastErr {
			lastErr = s.Error
			_ = enc.Encode(report{Event: "error", Tab: t.name, Status: s})
		}
		if s.Phase == wasmworker.PhaseRefused {
			return s, fmt.Errorf("tab %s refused: %s", t.name, s.Error)
		}
		if s.Phase == wasmworker.PhaseError && s.Backend == "" { // it stopped before choosing a backend: final
			return s, fmt.Errorf("tab %s stopped: %s", t.name, s.Error)
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("tab %s: not ready after %v (phase %s, %d of %d bytes loaded, error %q)",
				t.name, timeout, s.Phase, s.LoadedBytes, s.StageBytes, s.Error)
		}
		select {
		case <-t.ctx.Done():
			return s, t.ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func readyReport(event, name string, s wasmworker.Status, took time.Duration) report {
	r := report{Event: event, Tab: name, Seconds: took.Seconds(), Status: s}
	if s.LoadSeconds > 0 {
		r.LoadBytesPerSecond = float64(s.StageBytes) / s.LoadSeconds
	}
	return r
}

// runTabs opens o.tabs worker pages, waits for each to be ready and
// reports it; then reloads them (--reload) and holds them (--hold).
func runTabs(ctx context.Context, browser context.Context, o options, enc *json.Encoder) error {
	tabs := make([]tab, o.tabs)
	opened := make([]time.Time, o.tabs)
	for i := range tabs {
		name := fmt.Sprintf("tab%d", i+1)
		q := url.Values{"token": {o.token}, "name": {name}, "backend": {o.backend}}
		if o.memoryMB > 0 {
			q.Set("memory_mb", fmt.Sprint(o.memoryMB))
		}
		tctx, cancel := chromedp.NewContext(browser)
		defer cancel()
		tabs[i] = tab{name: name, ctx: tctx}
		opened[i] = time.Now()
		if err := chromedp.Do(tctx, chromedp.Navigate(o.coordinator+"/worker?"+q.Encode())); err != nil {
			return fmt.Errorf("tab %s: %w", name, err)
		}
	}
	first := make([]wasmworker.Status, len(tabs))
	for i, t := range tabs {
		s, err := t.waitReady("", o.timeout, enc)
		if err != nil {
			return err
		}
		first[i] = s
		if err := enc.Encode(readyReport("ready", t.name, s, time.Since(opened[i]))); err != nil {
			return err
		}
	}
	if o.reload {
		for i, t := range tabs {
			start := time.Now()
			if err := chromedp.Do(t.ctx, chromedp.Reload()); err != nil {
				return fmt.Errorf("tab %s: reload: %w", t.name, err)
			}
			s, err := t.waitReady(first[i].WorkerID, o.timeout, enc)
			if err != nil {
				return err
			}
			if err := enc.Encode(readyReport("reloaded", t.name, s, time.Since(start))); err != nil {
				return err
			}
		}
	}
	if !o.hold {
		return nil
	}
	tick := time.NewTicker(o.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, t := range tabs {
			s, err := t.status()
			if err != nil {
				return err
			}
			if err := enc.Encode(report{Event: "status", Tab: t.name, Status: s}); err != nil {
				return err
			}
		}
	}
}
