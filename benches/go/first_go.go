// How long main's own path is in a fresh Go 1.19 process running
// small_map_init's shape (`go a; go b; wg.Wait()`, b in runnext): the
// first `go` (with wakep's futex wake of the idle P's M and the first
// malg), the second, and wg.Wait until b runs, each timed from the one
// before, plus when a and b start after `go a`. One line per process;
// run many fresh processes, since only the first of each is measured:
//
//	go build -o /tmp/firstgo benches/go/first_go.go
//	for i in $(seq 300); do GOMAXPROCS=2 /tmp/firstgo; done > /tmp/firstgo.out
//
// Columns, in ns: go a, go b, wg.Wait -> b running, a's start after
// `go a`, b's start after `go a`. On 2026-12-07 (AMD EPYC guest, 300
// processes) the p50s were 6270, 860, 3880, 11760 and 10890.
package main

import (
	"fmt"
	"sync"
	"time"
)

var t0 = time.Now()

func main() {
	m := make(map[int]int)
	var wg sync.WaitGroup
	var bstart, astart int64
	tA := time.Since(t0).Nanoseconds()
	wg.Add(1)
	go func() { defer wg.Done(); astart = time.Since(t0).Nanoseconds(); m[0] = 0 }()
	tB := time.Since(t0).Nanoseconds()
	wg.Add(1)
	go func() { defer wg.Done(); bstart = time.Since(t0).Nanoseconds() }()
	tW := time.Since(t0).Nanoseconds()
	wg.Wait()
	fmt.Println(tB-tA, tW-tB, bstart-tW, astart-tA, bstart-tA)
}
