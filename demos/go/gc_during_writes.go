// Twin of the article's §2.5 program: 1000 goroutines each store a new
// pointer in one map while runtime.GC() runs. The article claims marking
// can miss live entries; the program checks every entry afterwards and
// prints LOST if one is missing or wrong. (It is also a map race: -race
// reports it, and the map checks may die with "concurrent map writes".)
package main

import (
	"fmt"
	"runtime"
	"sync"
)

func main() {
	m := make(map[int]*int)
	var wg sync.WaitGroup
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			v := new(int)
			*v = k
			m[k] = v
		}(i)
	}
	runtime.GC()
	wg.Wait()
	runtime.GC()
	lost := 0
	for k := 0; k < 1000; k++ {
		if v, ok := m[k]; !ok || *v != k {
			lost++
		}
	}
	if lost > 0 {
		fmt.Println("LOST", lost)
	}
}
