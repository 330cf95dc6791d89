// jfrref: the Go peer of bench/bench_jfr.sh. It converts a JFR file to pprof
// the way Pyroscope does for a format=jfr upload: Grafana's jfr-parser reads
// the file and its pprof package builds one profile per kind, each then
// marshalled and gzipped to a file, as profcol's `convert --to pprof` does.
//
//	jfrref convert IN.jfr OUT_PREFIX   writes OUT_PREFIX0.pb.gz, 1, ...
//	jfrref sum FILE.pb.gz...           prints "type/unit total samples" per
//	                                   sample type over all the files given
//
// `sum` reads profcol's output as well, so the bench can check that both
// conversions agree without a third tool.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	jfrpprof "github.com/grafana/jfr-parser/pprof"
	profilev1 "github.com/grafana/pyroscope/api/gen/proto/go/google/v1"
)

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "jfrref: "+format+"\n", args...)
	os.Exit(1)
}

// convert is the measured operation: read, parse, build, marshal, gzip.
func convert(in, prefix string) {
	body, err := os.ReadFile(in)
	if err != nil {
		die("%v", err)
	}
	// The server's defaults for an upload without from/until/sampleRate
	// query parameters: a 10 s window and 100 Hz.
	now := time.Now()
	pi := &jfrpprof.ParseInput{StartTime: now.Add(-10 * time.Second), EndTime: now, SampleRate: 100}
	res, err := jfrpprof.ParseJFR(body, pi, new(jfrpprof.LabelsSnapshot))
	if err != nil {
		die("%s: %v", in, err)
	}
	for i, p := range res.Profiles {
		raw, err := p.Profile.MarshalVT()
		if err != nil {
			die("marshal: %v", err)
		}
		writeGzip(fmt.Sprintf("%s%d.pb.gz", prefix, i), raw)
	}
}

func writeGzip(path string, raw []byte) {
	f, err := os.Create(path)
	if err != nil {
		die("%v", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	zw := gzip.NewWriter(w)
	if _, err := zw.Write(raw); err != nil {
		die("%s: %v", path, err)
	}
	if err := zw.Close(); err != nil {
		die("%s: %v", path, err)
	}
	if err := w.Flush(); err != nil {
		die("%s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		die("%s: %v", path, err)
	}
}

func readProfile(path string) *profilev1.Profile {
	data, err := os.ReadFile(path)
	if err != nil {
		die("%v", err)
	}
	if len(data) > 1 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			die("%s: %v", path, err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			die("%s: %v", path, err)
		}
	}
	p := new(profilev1.Profile)
	if err := p.UnmarshalVT(data); err != nil {
		die("%s: %v", path, err)
	}
	return p
}

// sum prints, per sample type, the total value and the number of samples,
// and how many profiles there were: the bench compares these lines.
func sum(paths []string) {
	type acc struct{ total, samples int64 }
	by := map[string]*acc{}
	for _, path := range paths {
		p := readProfile(path)
		str := func(i int64) string { return p.StringTable[i] }
		for i, st := range p.SampleType {
			key := str(st.Type) + "/" + str(st.Unit)
			a := by[key]
			if a == nil {
				a = new(acc)
				by[key] = a
			}
			for _, s := range p.Sample {
				if s.Value[i] != 0 {
					a.total += s.Value[i]
					a.samples++
				}
			}
		}
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Printf("profiles %d\n", len(paths))
	for _, k := range keys {
		fmt.Printf("%s %d %d\n", k, by[k].total, by[k].samples)
	}
}

func main() {
	switch {
	case len(os.Args) == 4 && os.Args[1] == "convert":
		convert(os.Args[2], os.Args[3])
	case len(os.Args) >= 3 && os.Args[1] == "sum":
		sum(os.Args[2:])
	default:
		die("usage: jfrref convert IN.jfr OUT_PREFIX | jfrref sum FILE.pb.gz...")
	}
}
