// Twin of the article's claim 3 (second half): sync.Map's Load reads the
// read-only map with no lock while Store writes. The article calls this a
// race the detector misses; it is synchronisation (atomics), and -race
// reports nothing because there is no race.
package main

import "sync"

func main() {
	var m sync.Map
	m.Store("k", 0)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 1000; i++ {
			m.Store("k", i)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 1000; i++ {
			m.Load("k")
		}
	}()
	wg.Wait()
}
