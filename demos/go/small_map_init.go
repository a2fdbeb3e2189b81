// Twin of the article's claim 1: goroutines write a map made with
// make(map[int]int) (makemap_small: B=0, no buckets yet) right after it
// is made. The article says -race may miss it; each goroutine's first
// write allocates or finds the single bucket.
package main

import "sync"

func main() {
	m := make(map[int]int)
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			m[g] = g
		}(g)
	}
	wg.Wait()
}
