// What a fresh Go 1.19 process pays for the first touches of a heap
// page, by their order and by whether the other CPU runs one of its
// threads (gort's deterministic clock charges the same: scheduler/src/
// det.rs, gc/src/pagetouch.rs). A new 144-byte object is the first in a
// fresh span, on a page never touched; the program reads one of its
// bytes first (`read`) or not (`write`), then writes one, timing each;
// or (`map`) makes a map's first insert, which reads its new bucket's
// tophash before writing it. With `busy`, a goroutine spins on the
// other P meanwhile. One line per process, in ns: the read (with the
// allocation) and the write, or the insert.
//
//	go build -o /tmp/pagefaults benches/go/page_faults.go
//	for i in $(seq 400); do GOMAXPROCS=2 /tmp/pagefaults read busy; done
//
// On this guest (2026-12-07, 200-400 processes each, p50): the write
// alone 2.2 us idle, 2.5 us busy; after a read (1.1-1.4 us, the zero
// page mapped), 2.4 us idle but 14.8 us busy (p10 4.6, p25 12.5, p75
// 18.4, p90 21.8, p99 41.6): replacing the zero page's entry needs a TLB
// shootdown, an IPI to the busy vCPU; Linux sends none to an idle CPU
// (lazy TLB). The map's first insert: 4.9-5.8 us idle, 17-24 us busy.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

var (
	sinkm map[int]int
	sinkb []byte
	sinkx byte
)

func spin(d time.Duration) {
	for t := time.Now(); time.Since(t) < d; {
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: pagefaults read|write|map busy|idle")
		os.Exit(2)
	}
	// Escaping, as a shared map does (a local one gets its first bucket
	// on the stack).
	sinkm = make(map[int]int)
	var wg sync.WaitGroup
	if os.Args[2] == "busy" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spin(3 * time.Millisecond)
		}()
	}
	// Long enough for the idle P to wake and start the spinner.
	spin(200 * time.Microsecond)
	t1 := time.Now()
	if os.Args[1] == "map" {
		sinkm[0] = 0
		fmt.Println(time.Since(t1).Nanoseconds())
	} else {
		b := make([]byte, 144)
		if os.Args[1] == "read" {
			sinkx = b[5]
		}
		t2 := time.Now()
		b[0] = 1
		t3 := time.Now()
		sinkb = b
		fmt.Println(t2.Sub(t1).Nanoseconds(), t3.Sub(t2).Nanoseconds())
	}
	wg.Wait()
}
