// Twin of the article's claim 4: C code reached through cgo writes Go
// memory while a goroutine writes the same word. -race does not see the C
// side (C is not instrumented), so the race goes unreported: the claim
// holds. (The article casts the map variable itself to *C.int; writing a
// map header from C would corrupt it, so this writes a plain int field,
// which is the same blind spot.)
package main

/*
static void set(int *p, int v) { *p = v; }
*/
import "C"

import "sync"

type counter struct {
	n C.int
}

func main() {
	c := &counter{}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 1000; i++ {
			C.set(&c.n, C.int(i))
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 1000; i++ {
			c.n = C.int(-i)
		}
	}()
	wg.Wait()
}
