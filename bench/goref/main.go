// goref is the Go side of profcol's codec benchmark: the same operations
// done with github.com/google/pprof/profile and the Go standard library,
// printed in the same one-line format as bench_codec.
//
//	goref OP FILE ITERS
//
// OP is one of:
//
//	parse        profile.Parse (gunzip included)
//	parse_write  profile.Parse + Profile.Write (gzip, default level)
//	gunzip       compress/gzip read of the whole file
//	regzip       compress/gzip read + write at the default level
//
// The file is read once; only the operation is timed. A garbage collection
// runs between iterations, outside the timed part, so every iteration
// starts from the same heap.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/google/pprof/profile"
)

// op runs once and returns the size of what it produced.
type op func(in []byte) (int, error)

var ops = map[string]op{
	"parse":       opParse,
	"parse_write": opParseWrite,
	"gunzip":      opGunzip,
	"regzip":      opRegzip,
}

func opParse(in []byte) (int, error) {
	_, err := profile.Parse(bytes.NewReader(in))
	return 0, err
}

func opParseWrite(in []byte) (int, error) {
	p, err := profile.Parse(bytes.NewReader(in))
	if err != nil {
		return 0, err
	}
	var out bytes.Buffer
	if err := p.Write(&out); err != nil {
		return 0, err
	}
	return out.Len(), nil
}

func gunzip(in []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(in))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func opGunzip(in []byte) (int, error) {
	raw, err := gunzip(in)
	return len(raw), err
}

func opRegzip(in []byte) (int, error) {
	raw, err := gunzip(in)
	if err != nil {
		return 0, err
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(raw); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return out.Len(), nil
}

// rawSize reads the gzip trailer (uncompressed size mod 2^32), which is
// exact for the single-member files Go writes, without holding the bytes.
func rawSize(in []byte) int {
	if len(in) >= 18 && in[0] == 0x1f && in[1] == 0x8b {
		return int(binary.LittleEndian.Uint32(in[len(in)-4:]))
	}
	return len(in)
}

func maxRSSKiB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Maxrss // KiB on Linux
}

func main() {
	if len(os.Args) != 4 {
		usage()
	}
	run, ok := ops[os.Args[1]]
	iters, err := strconv.Atoi(os.Args[3])
	if !ok || err != nil || iters < 1 {
		usage()
	}
	in, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "goref:", err)
		os.Exit(1)
	}
	base := maxRSSKiB()
	ns := make([]int64, iters)
	outLen := 0
	for i := range ns {
		runtime.GC()
		t0 := time.Now()
		outLen, err = run(in)
		ns[i] = time.Since(t0).Nanoseconds()
		if err != nil {
			fmt.Fprintf(os.Stderr, "goref: %s: %v\n", os.Args[1], err)
			os.Exit(1)
		}
	}
	fmt.Printf("op=%s impl=go iters=%d median_ns=%d in_bytes=%d "+
		"raw_bytes=%d out_bytes=%d maxrss_kib=%d base_kib=%d\n",
		os.Args[1], iters, median(ns), len(in), rawSize(in), outLen,
		maxRSSKiB(), base)
}

func median(v []int64) int64 {
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: goref parse|parse_write|gunzip|regzip FILE ITERS")
	os.Exit(2)
}
