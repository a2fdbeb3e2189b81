// Twin of the article's §3.1: one goroutine only reads a map (lookups)
// while another inserts enough keys to make it grow. The article says the
// reader's part in the race is hidden because growth makes it "write"
// (growWork); in Go 1.19 a lookup never evacuates (only writes do), and
// -race reports the read against the insert.
package main

import "sync"

func main() {
	m := make(map[int]int)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 5000; i++ {
			m[i] = i
		}
	}()
	go func() {
		defer wg.Done()
		s := 0
		for i := 0; i < 5000; i++ {
			s += m[i]
		}
		_ = s
	}()
	wg.Wait()
}
