// Twin of gort's shared-map demo: two goroutines write one map with no
// synchronisation. Go 1.19 reports the race under -race, and its map
// checks may die with "concurrent map writes" (more often with more Ps).
package main

import "sync"

func main() {
	m := make(map[int]int)
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				m[i*2+g] = i
			}
		}(g)
	}
	wg.Wait()
}
