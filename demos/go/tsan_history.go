// Twin of gort's tsan_history demo: goroutine A writes x, then makes
// 60,000 unrelated instrumented accesses; main then writes x. With Go
// 1.19's default history (GORACE history_size=0: 3 trace parts of ~16K
// events), A's write has left its trace and the report is dropped
// (measured: reported at 40,000 accesses, missed at 60,000).
package main

import "time"

type T struct{ a int }

func main() {
	const n = 60000
	x := &T{}
	other := make([]int, n)
	hold := make(chan int)
	go func() {
		x.a = 1
		s := 0
		for i := 0; i < n; i++ {
			s += other[i]
		}
		_ = s
		<-hold
	}()
	time.Sleep(100 * time.Millisecond)
	x.a = 2
	hold <- 0
}
