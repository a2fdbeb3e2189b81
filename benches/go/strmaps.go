// The Go 1.19 side of benches/benches/strmaps.rs (gobench has no string-key
// workload): map[string]int64, keys fmt.Sprintf("key-%016x",
// splitmix64(i)>>1), misses over splitmix64(i+2^40)|1<<63, lookups through
// the same xorshift shuffle, N = 1e3 and 1e5; five samples per operation.
//
//	go build -o /tmp/gostr benches/go/strmaps.go && /tmp/gostr
package main

import (
	"fmt"
	"os"
	"time"
)

func splitmix64(x uint64) uint64 {
	z := x + 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

var sink map[string]int64

func main() {
	for _, n := range []int{1000, 100000} {
		keys := make([]string, n)
		miss := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("key-%016x", splitmix64(uint64(i))>>1)
			miss[i] = fmt.Sprintf("key-%016x", splitmix64(uint64(i)+1<<40)|1<<63)
		}
		perm := append([]string(nil), keys...)
		s := uint64(0x2545F4914F6CDD1D)
		for i := n - 1; i > 0; i-- {
			s ^= s << 13
			s ^= s >> 7
			s ^= s << 17
			j := int(s % uint64(i+1))
			perm[i], perm[j] = perm[j], perm[i]
		}
		const ops = 2000000
		for sample := 0; sample < 5; sample++ {
			var res [3]float64
			// insert
			passes := ops / n
			var d time.Duration
			for p := 0; p < passes; p++ {
				m := make(map[string]int64)
				t0 := time.Now()
				for _, k := range keys {
					m[k] = 1
				}
				d += time.Since(t0)
				sink = m
			}
			res[0] = float64(d.Nanoseconds()) / float64(passes*n)
			m := make(map[string]int64)
			for _, k := range keys {
				m[k] = 1
			}
			for w, ks := range [][]string{perm, miss} {
				c, j := 0, 0
				t0 := time.Now()
				for i := 0; i < ops; i++ {
					if _, ok := m[ks[j]]; ok {
						c++
					}
					j++
					if j == n {
						j = 0
					}
				}
				res[1+w] = float64(time.Since(t0).Nanoseconds()) / ops
				if (w == 0 && c != ops) || (w == 1 && c != 0) {
					fmt.Fprintln(os.Stderr, "bad count")
					os.Exit(1)
				}
			}
			for i, name := range []string{"str_insert", "str_hit", "str_miss"} {
				fmt.Printf("RESULT %s_%s go %.3f ns\n", name, map[int]string{1000: "1e3", 100000: "1e5"}[n], res[i])
			}
		}
	}
}
