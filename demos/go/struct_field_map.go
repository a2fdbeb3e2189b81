// Twin of the article's §3.3: a map in a struct field, shared by two
// goroutines through a pointer to the struct. The article says inlining
// or the indirect call hides it; -race instruments the map operations
// whatever reaches the map.
package main

import "sync"

type state struct {
	counts map[string]int
}

func (s *state) inc(k string) { s.counts[k]++ }

func main() {
	s := &state{counts: make(map[string]int)}
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				s.inc("k")
			}
		}()
	}
	wg.Wait()
}
