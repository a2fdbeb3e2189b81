// Twin of gort's masked_by_logger demo: a write/write race on x between a
// goroutine and main, each of which also logs through one mutex-guarded
// logger (the goroutine after its write, main before its own). When the
// goroutine logs first, its unlock happens before main's lock and the
// writes are ordered: -race reports nothing in this schedule.
package main

import (
	"sync"
	"time"
)

type T struct{ a int }

func main() {
	x := &T{}
	var log sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		x.a = 1
		log.Lock() // log.Printf("stored")
		log.Unlock()
		wg.Done()
	}()
	time.Sleep(time.Millisecond)
	log.Lock() // log.Printf("storing")
	log.Unlock()
	x.a = 2
	wg.Wait()
}
