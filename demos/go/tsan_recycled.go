// Twin of gort's tsan_recycled demo: goroutine A writes x and finishes;
// 65 goroutines run and finish one after another; main writes x. Once
// more than 64 finished goroutines' trace parts are queued, the next part
// allocated (the 65th goroutine's, at its start) takes A's, its stack
// cannot be restored and the report is dropped (measured on Go 1.19:
// reported after 64, missed after 65).
package main

import (
	"sync"
	"time"
)

type T struct{ a int }

func main() {
	x := &T{}
	go func() { x.a = 1 }()
	time.Sleep(time.Millisecond)
	for i := 0; i < 65; i++ {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { wg.Done() }()
		wg.Wait()
		time.Sleep(10 * time.Microsecond)
	}
	x.a = 2
}
