// small_map_init's two first writes, timed: each writer records the CPU
// it ran on (getcpu) and nanotime before and after its map write. The
// writers use separate maps (pass `shared` for one map, which then
// dies on overlap as the demo does), so every run completes and shows
// whether the writes overlapped, on which CPUs and for how long. One
// line per process:
//
//	go build -o /tmp/overlap benches/go/write_overlap.go
//	for i in $(seq 300); do GOMAXPROCS=2 /tmp/overlap; done > /tmp/overlap.out
//
// On 2026-12-07 (AMD EPYC guest, 300 processes): 29 overlaps, always
// with the writers on different CPUs, each write then taking 15-150 us
// (4.1 us alone).
package main

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// getcpu(2): syscall 309 on linux/amd64.
func getcpu() int {
	var cpu, node uint32
	syscall.RawSyscall(309, uintptr(unsafe.Pointer(&cpu)), uintptr(unsafe.Pointer(&node)), 0)
	return int(cpu)
}

var t0 = time.Now()

func main() {
	shared := len(os.Args) > 1 && os.Args[1] == "shared"
	m0 := make(map[int]int)
	m1 := make(map[int]int)
	var wg sync.WaitGroup
	var start, end [2]int64
	var cs, ce [2]int
	mainCPU := getcpu()
	tgo := time.Since(t0).Nanoseconds()
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			m := m0
			if g == 1 && !shared {
				m = m1
			}
			cs[g] = getcpu()
			start[g] = time.Since(t0).Nanoseconds()
			m[g] = g
			end[g] = time.Since(t0).Nanoseconds()
			ce[g] = getcpu()
		}(g)
	}
	wg.Wait()
	overlap := start[0] < end[1] && start[1] < end[0]
	fmt.Printf("main=%d go=%d a=[%d,%d]cpu%d->%d b=[%d,%d]cpu%d->%d overlap=%v\n", mainCPU, tgo,
		start[0]-tgo, end[0]-tgo, cs[0], ce[0], start[1]-tgo, end[1]-tgo, cs[1], ce[1], overlap)
}
