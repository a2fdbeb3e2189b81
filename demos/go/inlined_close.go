// Twin of gort's inlined_close demo (the article's §2.4): a goroutine
// writes x, then closes done through signalWorker, which the compiler
// inlines; main receives from done and reads x. The article says the
// inlined close can be optimised away and the race signal lost; close is
// a call to runtime.closechan in every build (`go build -gcflags=-m`
// reports signalWorker inlined; `go tool objdump` still shows the call),
// it orders the write before the read, and -race reports nothing.
package main

type T struct{ a int }

func signalWorker(done chan struct{}) {
	close(done)
}

func main() {
	x := &T{}
	done := make(chan struct{})
	go func() {
		x.a = 1
		signalWorker(done)
	}()
	<-done
	_ = x.a
}
