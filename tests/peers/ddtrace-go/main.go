// A program for profcol's peer test: dd-trace-go's profiler (and tracer, so
// CPU samples carry span ids) uploading to a Datadog Agent address, which is
// profcol's datadog receiver.
//
//	ddtrace-go-peer AGENT_ADDR SERVICE SECONDS
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/DataDog/dd-trace-go/v2/ddtrace/tracer"
	"github.com/DataDog/dd-trace-go/v2/profiler"
)

var sink []byte

// work burns CPU and allocates inside a span, so the CPU profile has
// samples labelled with its span id and local root span id.
func work(ctx context.Context, d time.Duration) {
	span, _ := tracer.StartSpanFromContext(ctx, "peer.work", tracer.ResourceName("GET /work"),
		tracer.SpanType("web"))
	defer span.Finish()
	end := time.Now().Add(d)
	h := sha256.New()
	for time.Now().Before(end) {
		h.Write(make([]byte, 4096))
		sink = h.Sum(nil)
	}
}

func contend(d time.Duration) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				mu.Lock()
				time.Sleep(time.Millisecond)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: ddtrace-go-peer AGENT_ADDR SERVICE SECONDS")
		os.Exit(2)
	}
	addr, svc := os.Args[1], os.Args[2]
	secs, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1000)
	if err := tracer.Start(tracer.WithAgentAddr(addr), tracer.WithService(svc),
		tracer.WithEnv("peer-test"), tracer.WithServiceVersion("1.2.3")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer tracer.Stop()
	err = profiler.Start(profiler.WithAgentAddr(addr), profiler.WithService(svc),
		profiler.WithEnv("peer-test"), profiler.WithVersion("1.2.3"),
		profiler.WithTags("team:profiling"),
		profiler.WithPeriod(2*time.Second), profiler.CPUDuration(1500*time.Millisecond),
		profiler.WithProfileTypes(profiler.CPUProfile, profiler.HeapProfile,
			profiler.BlockProfile, profiler.MutexProfile, profiler.GoroutineProfile))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("dd-trace-go profiler started")
	end := time.Now().Add(time.Duration(secs) * time.Second)
	for time.Now().Before(end) {
		work(context.Background(), 200*time.Millisecond)
		contend(20 * time.Millisecond)
	}
	profiler.Stop()
}
