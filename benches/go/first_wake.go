// When the idle P starts a goroutine in a fresh Go 1.19 process, timed
// from the program's first `go` statement: the latency deterministic
// mode draws from `WAKE_QUANTILES` (scheduler/src/det.rs), which counts
// from the start of the `go` statement that woke the P.
//
// The shape is small_map_init's (`go a; go b; wg.Wait()`), but `b` spins
// for 300 us, so `a`, in the local run queue, can only be started by the
// woken P. One line per process (a's start, in ns); run many:
//
//	go build -o /tmp/firstwake benches/go/first_wake.go
//	for i in $(seq 400); do GOMAXPROCS=2 /tmp/firstwake; done > /tmp/firstwake.out
package main

import (
	"fmt"
	"sync"
	"time"
)

var t0 = time.Now()

func main() {
	var wg sync.WaitGroup
	var astart int64
	wg.Add(2)
	tA := time.Since(t0).Nanoseconds()
	go func() { defer wg.Done(); astart = time.Since(t0).Nanoseconds() }()
	go func() {
		defer wg.Done()
		for t := time.Now(); time.Since(t) < 300*time.Microsecond; {
		}
	}()
	wg.Wait()
	fmt.Println(astart - tA)
}
