// Twin of the article's claim 3 (first half): a struct holding a
// sync.RWMutex and a plain map; one goroutine writes under the lock,
// another writes the map bypassing it. The article says -race does not
// check it.
package main

import "sync"

type wrapper struct {
	mu sync.RWMutex
	m  map[string]int
}

func main() {
	w := &wrapper{m: make(map[string]int)}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 100; i++ {
			w.mu.Lock()
			w.m["k"] = i
			w.mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 100; i++ {
			w.m["k"] = -i
		}
	}()
	wg.Wait()
}
