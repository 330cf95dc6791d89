// A program using the real Pyroscope Go SDK (github.com/grafana/pyroscope-go,
// pinned in go.mod) that pushes every profile type the SDK offers to a
// Pyroscope server (profcol's pyroscope receiver in
// tests/peers/test_pyroscope_go.sh):
//
//	pyroscope-go-peer SERVER_URL APP_NAME RUN_SECONDS
//
// cpu; alloc_objects, alloc_space, inuse_objects, inuse_space (godeltaprof);
// goroutines; mutex_count and mutex_duration; block_count and
// block_duration. goroutine_leak is left out: it needs a Go built with
// GOEXPERIMENT=goroutineleakprofile. Static tags peer=pyroscope-go and
// sdk_version=<the module version linked in>; the work inside pyroscope.TagWrapper carries
// the label handler=tagged (CPU, allocations, contention, blocking).
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/grafana/pyroscope-go"
)

var sink []byte

// burn spins the CPU and allocates for d.
func burn(d time.Duration) uint64 {
	var x uint64 = 1
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for i := 0; i < 10000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
		sink = make([]byte, 4096+int(x%4096))
	}
	return x
}

// contend makes mutex contention and blocking for d.
func contend(d time.Duration) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	ch := make(chan int)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				mu.Lock()
				time.Sleep(200 * time.Microsecond)
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(end) {
			time.Sleep(time.Millisecond)
			ch <- 1
		}
		close(ch)
	}()
	for range ch {
	}
	wg.Wait()
}

// sdkVersion is the pyroscope-go module version linked in.
func sdkVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/grafana/pyroscope-go" {
				return d.Version
			}
		}
	}
	return "unknown"
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: pyroscope-go-peer SERVER_URL APP_NAME RUN_SECONDS")
		os.Exit(2)
	}
	secs, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("github.com/grafana/pyroscope-go", sdkVersion())
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)
	p, err := pyroscope.Start(pyroscope.Config{
		ApplicationName: os.Args[2],
		ServerAddress:   os.Args[1],
		Tags:            map[string]string{"peer": "pyroscope-go", "sdk_version": sdkVersion()},
		UploadRate:      time.Second,
		Logger:          pyroscope.StandardLogger,
		ProfileTypes: []pyroscope.ProfileType{
			pyroscope.ProfileCPU,
			pyroscope.ProfileAllocObjects,
			pyroscope.ProfileAllocSpace,
			pyroscope.ProfileInuseObjects,
			pyroscope.ProfileInuseSpace,
			pyroscope.ProfileGoroutines,
			pyroscope.ProfileMutexCount,
			pyroscope.ProfileMutexDuration,
			pyroscope.ProfileBlockCount,
			pyroscope.ProfileBlockDuration,
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pyroscope.Start:", err)
		os.Exit(1)
	}
	// Goroutines that stay parked while the profiler runs.
	stop := make(chan struct{})
	for i := 0; i < 8; i++ {
		go func() { <-stop }()
	}
	end := time.Now().Add(time.Duration(secs) * time.Second)
	for time.Now().Before(end) {
		burn(100 * time.Millisecond)
		contend(50 * time.Millisecond)
		pyroscope.TagWrapper(context.Background(), pyroscope.Labels("handler", "tagged"), func(context.Context) {
			burn(100 * time.Millisecond)
			contend(50 * time.Millisecond)
		})
	}
	close(stop)
	if err := p.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "Stop:", err)
		os.Exit(1)
	}
	fmt.Println("pyroscope-go", sdkVersion(), "stopped (last upload flushed)")
}
