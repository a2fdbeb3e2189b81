// Twin of gort's tsan_slots demo: goroutine A writes x and stays alive;
// one collection runs, then 252 goroutines come and go one after another
// (each waited for); main writes x. TSan v3 shares 256 slots among
// goroutines over time; A's slot is reused and its write looks ordered
// before main's (measured on Go 1.19: reported after 250, missed after
// 252).
package main

import (
	"runtime"
	"sync"
	"time"
)

type T struct{ a int }

func main() {
	x := &T{}
	hold := make(chan int)
	go func() {
		x.a = 1
		<-hold
	}()
	time.Sleep(time.Millisecond)
	for i := 0; i < 252; i++ {
		if i == 0 {
			runtime.GC()
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { wg.Done() }()
		wg.Wait()
	}
	x.a = 2
	hold <- 0
}
