// Twin of gort's masked_by_channel demo: the goroutine sends on an
// unrelated events channel after its write, main receives before its own:
// a real happens-before edge, so there is no race to report.
package main

type T struct{ a int }

func main() {
	x := &T{}
	events := make(chan int)
	go func() {
		x.a = 1
		events <- 0
	}()
	<-events
	x.a = 2
}
