// parcaquery: what a Parca server holds, read through Parca's own query API
// (parca.query.v1alpha1.QueryService), and the same summary of pprof files,
// for tests/peers/test_parca.sh. One JSON line per profile type:
//
//	{"type": "NAME:SAMPLE_TYPE:UNIT", "total": N, "top": "FUNCTION", "top_flat": M}
//
// total is the sum of the type's values, top the function with the largest
// flat value (ties: the smaller name), top_flat that value. A samples:count
// type counts samples x period, as Parca reports it.
//
//	parcaquery query ADDR      every type ProfileTypes lists (last 24 h), each
//	                           merged over that range by Query (report pprof)
//	parcaquery expect NAME=FILE...  the pprof files (gzipped or not), each
//	                           sample type named NAME:type:unit
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/google/pprof/profile"
	queryv1 "github.com/parca-dev/parca/gen/proto/go/parca/query/v1alpha1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type summary struct {
	Type  string `json:"type"`
	Total int64  `json:"total"`
	Top   string `json:"top"`
	// TopFlat is kept apart from Top: a reader that names frames wrongly
	// but reads stacks and values right still gets it right.
	TopFlat int64 `json:"top_flat"`
}

// summarize adds sample type i of p under key to the totals and flat
// values by function, each value multiplied by mul.
func summarize(p *profile.Profile, i int, mul int64, total map[string]int64, flat map[string]map[string]int64, key string) {
	if flat[key] == nil {
		flat[key] = map[string]int64{}
	}
	for _, s := range p.Sample {
		v := s.Value[i] * mul
		total[key] += v
		if len(s.Location) == 0 || len(s.Location[0].Line) == 0 || s.Location[0].Line[0].Function == nil {
			continue
		}
		flat[key][s.Location[0].Line[0].Function.Name] += v
	}
}

func emit(total map[string]int64, flat map[string]map[string]int64) {
	keys := make([]string, 0, len(total))
	for k := range total {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	enc := json.NewEncoder(os.Stdout)
	for _, k := range keys {
		top, best, found := "", int64(0), false
		for f, v := range flat[k] {
			if !found || v > best || (v == best && f < top) {
				top, best, found = f, v, true
			}
		}
		if err := enc.Encode(summary{Type: k, Total: total[k], Top: top, TopFlat: best}); err != nil {
			die("%v", err)
		}
	}
}

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "parcaquery: "+format+"\n", a...)
	os.Exit(1)
}

func query(addr string) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
	if err != nil {
		die("%v", err)
	}
	defer conn.Close()
	c := queryv1.NewQueryServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	end := time.Now().Add(time.Minute)
	start := end.Add(-24 * time.Hour)
	types, err := c.ProfileTypes(ctx, &queryv1.ProfileTypesRequest{
		Start: timestamppb.New(start), End: timestamppb.New(end)})
	if err != nil {
		die("ProfileTypes: %v", err)
	}
	total := map[string]int64{}
	flat := map[string]map[string]int64{}
	for _, t := range types.Types {
		q := strings.Join([]string{t.Name, t.SampleType, t.SampleUnit, t.PeriodType, t.PeriodUnit}, ":")
		if t.Delta {
			q += ":delta"
		}
		resp, err := c.Query(ctx, &queryv1.QueryRequest{
			Mode: queryv1.QueryRequest_MODE_MERGE,
			Options: &queryv1.QueryRequest_Merge{Merge: &queryv1.MergeProfile{
				Query: q + "{}", Start: timestamppb.New(start), End: timestamppb.New(end)}},
			ReportType: queryv1.QueryRequest_REPORT_TYPE_PPROF,
		})
		if err != nil {
			die("Query %s: %v", q, err)
		}
		p, err := profile.ParseData(resp.GetPprof())
		if err != nil {
			die("Query %s: the pprof report: %v", q, err)
		}
		summarize(p, 0, 1, total, flat, t.Name+":"+t.SampleType+":"+t.SampleUnit)
	}
	emit(total, flat)
}

func expect(args []string) {
	total := map[string]int64{}
	flat := map[string]map[string]int64{}
	for _, a := range args {
		name, file, ok := strings.Cut(a, "=")
		if !ok {
			die("want NAME=FILE, got %q", a)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			die("%v", err)
		}
		p, err := profile.ParseData(b)
		if err != nil {
			die("%s: %v", file, err)
		}
		for i, st := range p.SampleType {
			// Parca reports a samples:count type as samples x period
			// (the time they stand for).
			mul := int64(1)
			if st.Type == "samples" && st.Unit == "count" && p.Period > 0 {
				mul = p.Period
			}
			summarize(p, i, mul, total, flat, name+":"+st.Type+":"+st.Unit)
		}
	}
	emit(total, flat)
}

func main() {
	switch {
	case len(os.Args) == 3 && os.Args[1] == "query":
		query(os.Args[2])
	case len(os.Args) >= 3 && os.Args[1] == "expect":
		expect(os.Args[2:])
	default:
		die("usage: parcaquery query ADDR | parcaquery expect NAME=FILE...")
	}
}
