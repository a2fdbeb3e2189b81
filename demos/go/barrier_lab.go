// Twin of gort's barrier_lab demo: workers churn their maps while the
// collector runs (GOGC=10 and explicit runtime.GC calls): each moves a
// node out of a map onto its stack, yields (a stack scan may pass),
// and stores it back under a new key; inserts and deletes drive the maps
// through growth and same-size growth. Go's hybrid barrier cannot be
// switched off, so nothing may be lost: every node's payload is checked
// at the end and "LOST n" printed otherwise.
package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

type node struct {
	id    int64
	check int64
	next  *node
}

func mk(id int64) *node { return &node{id: id, check: id*7919 + 1} }

func worker(me int64, wg *sync.WaitGroup, lost *int64, mu *sync.Mutex) {
	defer wg.Done()
	m := make(map[int64]*node)
	next := me << 32
	for i := 0; i < 48; i++ {
		m[next] = mk(next)
		next++
	}
	for op := 0; op < 4000; op++ {
		switch op % 4 {
		case 0, 1: // move a node through the stack
			for k, v := range m {
				delete(m, k)
				runtime.Gosched()
				v.next = mk(next)
				m[v.id^(int64(op)<<20)] = v
				break
			}
		case 2: // insert
			m[next] = mk(next)
			next++
		case 3: // delete one (keeps the count near 48: same-size growth)
			if len(m) > 48 {
				for k := range m {
					delete(m, k)
					break
				}
			}
		}
	}
	runtime.GC()
	bad := int64(0)
	for _, v := range m {
		if v.check != v.id*7919+1 || (v.next != nil && v.next.check != v.next.id*7919+1) {
			bad++
		}
	}
	mu.Lock()
	*lost += bad
	mu.Unlock()
}

func main() {
	debug.SetGCPercent(10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lost int64
	done := make(chan bool)
	go func() {
		for {
			select {
			case <-done:
				return
			default:
				runtime.GC()
				runtime.Gosched()
			}
		}
	}()
	for w := int64(1); w <= 3; w++ {
		wg.Add(1)
		go worker(w, &wg, &lost, &mu)
	}
	wg.Wait()
	close(done)
	if lost > 0 {
		fmt.Println("LOST", lost)
	}
}
