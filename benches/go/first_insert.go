// How long a fresh Go 1.19 process's first map insert takes (the bucket's
// span: two page faults) and the next 15 (two growths), in main on the
// first P while the other is idle (any argument), or in a goroutine that
// only the woken P can run, while the first P spins (no argument). On
// this guest the second case is several times slower (2026-12-07, 300
// processes each, p50: 5.0 us and 10.9 us in main; 27.7 us and 25.5 us
// on the woken P, bimodal: p25 6.6 us; another batch of 200 gave p50
// 6.6 us, p75 28.8 us): the reason readonly_during_growth's
// reader, on the first P, finishes its lookups of the still empty map
// while the writer's first insert is under way (README, "Where gort and
// Go disagree today"). One line per process, in ns:
//
//	go build -o /tmp/firstinsert benches/go/first_insert.go
//	for i in $(seq 300); do GOMAXPROCS=2 /tmp/firstinsert; done
//	for i in $(seq 300); do GOMAXPROCS=2 /tmp/firstinsert main; done
package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

var t0 = time.Now()

// inserts times m's first insert and the 15 after it.
func inserts(m map[int]int) (first, next int64) {
	t1 := time.Since(t0).Nanoseconds()
	m[0] = 0
	t2 := time.Since(t0).Nanoseconds()
	for i := 1; i < 16; i++ {
		m[i] = i
	}
	t3 := time.Since(t0).Nanoseconds()
	return t2 - t1, t3 - t2
}

func main() {
	m := make(map[int]int)
	if len(os.Args) > 1 {
		// On the first P, in main, the other P idle.
		fmt.Println(inserts(m))
		return
	}
	var wg sync.WaitGroup
	var d1, d2 int64
	wg.Add(2)
	go func() {
		defer wg.Done()
		d1, d2 = inserts(m)
	}()
	go func() {
		defer wg.Done()
		for t := time.Now(); time.Since(t) < 300*time.Microsecond; {
		}
	}()
	wg.Wait()
	fmt.Println(d1, d2)
}
