// How long a goroutine waits, on Go 1.19 at GOMAXPROCS=2, between its
// `go` statement and its first instruction when the other P is idle: the
// figure deterministic mode's wake-up model stands for (scheduler/src/det.rs,
// WAKE_QUANTILES). Two cases, which Go handles differently:
//
//   - queue: `go a; go b; wg.Wait()`: `go b` takes runnext, so `a` sits in
//     the local run queue, and the woken P steals it as soon as its M runs;
//   - runnext: `go a` while main keeps running: `a` is in runnext, which
//     another P may take only after runqgrab's usleep(3).
//
// Quantiles of 2,000 samples each, in microseconds.
//
//	go build -o /tmp/gowake benches/go/wakeup.go && GOMAXPROCS=2 /tmp/gowake
package main

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

const samples = 2000

func quantiles(name string, d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	q := func(p float64) float64 {
		return float64(d[int(p*float64(len(d)-1))]) / 1e3
	}
	fmt.Printf("%-8s p0 %.1f p10 %.1f p50 %.1f p90 %.1f p99 %.1f us\n",
		name, q(0), q(0.1), q(0.5), q(0.9), q(0.99))
}

func main() {
	queue := make([]time.Duration, 0, samples)
	for r := 0; r < samples; r++ {
		var wg sync.WaitGroup
		var began time.Time
		wg.Add(2)
		t0 := time.Now()
		go func() { began = time.Now(); wg.Done() }()
		go func() {
			// Busy long enough that `a` is not run by this P first.
			for t := time.Now(); time.Since(t) < 200*time.Microsecond; {
			}
			wg.Done()
		}()
		wg.Wait()
		queue = append(queue, began.Sub(t0))
		time.Sleep(time.Millisecond) // let the other P go idle again
	}
	quantiles("queue", queue)

	next := make([]time.Duration, 0, samples)
	for r := 0; r < samples; r++ {
		done := make(chan time.Time, 1)
		t0 := time.Now()
		go func() { done <- time.Now() }()
		// main stays busy, so `a` waits in runnext for the other P.
		for t := time.Now(); time.Since(t) < 2*time.Millisecond; {
			select {
			case began := <-done:
				next = append(next, began.Sub(t0))
				t = t.Add(-time.Hour)
			default:
			}
		}
		time.Sleep(time.Millisecond)
	}
	quantiles("runnext", next)
}
