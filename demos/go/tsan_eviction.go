// Twin of gort's tsan_eviction demo: goroutine A reads x among 8 other
// readers (5 before it, 3 after), then main writes x, ordered after the
// 8 readers (WaitGroup) but not after A. A word has 4 shadow cells; the
// later readers evict A's, so -race misses the race (measured on Go
// 1.19: reported with 5 readers, missed with 8).
package main

import (
	"sync"
	"time"
)

type T struct{ a int }

func main() {
	x := &T{}
	var wg sync.WaitGroup
	reader := func() {
		wg.Add(1)
		go func() {
			_ = x.a
			wg.Done()
		}()
	}
	for i := 0; i < 5; i++ {
		reader()
	}
	time.Sleep(time.Millisecond)
	hold := make(chan int)
	go func() {
		_ = x.a
		<-hold
	}()
	time.Sleep(time.Millisecond)
	for i := 5; i < 8; i++ {
		reader()
	}
	wg.Wait()
	x.a = 1
	hold <- 0
}
