// pdatacheck compares OTLP profiles with the OpenTelemetry Collector's own
// pdata (go.opentelemetry.io/collector/pdata/pprofile, the same release as
// the Collector peer) as the decoder: what was sent against what came out
// of the Collector (or of profcol after a Collector hop).
//
//	pdatacheck SENT GOT     exit 0 and print "equal: ..." or print the differences and exit 1
//	pdatacheck -ignore-empty SENT GOT
//	                        the same, leaving out the sent requests without
//	                        any sample (the Collector's otlp receiver drops them)
//	pdatacheck -count IN    print the number of profiles and samples in IN
//	pdatacheck -decorate NAME IN OUT
//	                        write IN (one request) again with pdata, adding
//	                        typed resource attributes (service.name NAME),
//	                        a scope with name, version and attributes,
//	                        schema urls, and a link for every sample whose
//	                        span_id and trace_id attributes are valid ids
//
// SENT and GOT are each a file or a directory of files:
//   - NAME.jsonl / NAME.json: OTLP/JSON ProfilesData, one per line (the
//     Collector file exporter's `format: json`)
//   - NAME.pb (or any file in a directory): one ExportProfilesServiceRequest
//     (profcol's file exporter with `format: otlp`; same field numbers as
//     ProfilesData)
//   - any other file: records of a 4-byte big-endian length and a
//     ProfilesData (the Collector file exporter's `format: proto`)
//
// Batching may differ between SENT and GOT (requests merged or split, each
// with its own dictionary), so every index is resolved through its
// request's dictionary and the comparison is over content:
//   - profiles, as a multiset, each with its resource (attributes, schema
//     url), scope (name, version, attributes, dropped count, schema url),
//     sample and period types, period, time, duration, profile id, dropped
//     attributes count, attributes, original payload (format and bytes),
//     and its samples as a multiset (stack with every location, mapping,
//     line, function; values; timestamps; attributes; link)
//   - the dictionaries' entries, resolved, as sets: strings (but those of
//     resource and scope attributes, inline or referenced), mappings,
//     functions, locations, stacks, links, attributes (every sent entry
//     must arrive; received entries never sent are printed as notes)
//   - per sample type, the sum of every value
//
// Exit codes: 0 equal, 1 different, 2 usage or unreadable input.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// content is everything read from one side, resolved.
type content struct {
	profiles map[string]int      // profile key -> count
	detail   map[string][]string // profile key -> header + sorted samples
	dict     map[string]map[string]bool
	sums     map[string]int64 // sample type -> sum of values
	samples  int
	nprof    int
	requests int
	// -ignore-empty: sent requests without samples are left out (the
	// Collector's otlp receiver acknowledges and drops them); their
	// profiles, if they arrive all the same, are not counted either.
	ignoreEmpty bool
	ignored     map[string]bool
	nignored    int
}

func newContent() *content {
	c := &content{profiles: map[string]int{}, detail: map[string][]string{}, dict: map[string]map[string]bool{}, sums: map[string]int64{}, ignored: map[string]bool{}}
	for _, t := range []string{"string", "mapping", "function", "location", "stack", "link", "attribute"} {
		c.dict[t] = map[string]bool{}
	}
	return c
}

func value(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeMap:
		var keys []string
		m := map[string]string{}
		for k, x := range v.Map().All() {
			keys = append(keys, k)
			m[k] = value(x)
		}
		sort.Strings(keys)
		var sb strings.Builder
		sb.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				sb.WriteString(",")
			}
			fmt.Fprintf(&sb, "%q:%s", k, m[k])
		}
		return sb.String() + "}"
	case pcommon.ValueTypeSlice:
		var parts []string
		for _, x := range v.Slice().All() {
			parts = append(parts, value(x))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case pcommon.ValueTypeBytes:
		return "bytes:" + hex.EncodeToString(v.Bytes().AsRaw())
	default:
		return v.Type().String() + ":" + v.AsString()
	}
}

func attrMap(m pcommon.Map) string {
	return value(func() pcommon.Value { v := pcommon.NewValueMap(); m.CopyTo(v.Map()); return v }())
}

// resolver turns the indices of one request into content.
type resolver struct {
	d pprofile.ProfilesDictionary
}

func (r resolver) str(i int32) string {
	st := r.d.StringTable()
	if i < 0 || int(i) >= st.Len() {
		return fmt.Sprintf("<bad string %d>", i)
	}
	return st.At(int(i))
}

func (r resolver) attr(i int32) string {
	t := r.d.AttributeTable()
	if i < 0 || int(i) >= t.Len() {
		return fmt.Sprintf("<bad attribute %d>", i)
	}
	a := t.At(int(i))
	return fmt.Sprintf("%q=%s[%s]", r.str(a.KeyStrindex()), value(a.Value()), r.str(a.UnitStrindex()))
}

func (r resolver) attrs(idx pcommon.Int32Slice) string {
	var parts []string
	for _, i := range idx.All() {
		parts = append(parts, r.attr(i))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

func (r resolver) mapping(i int32) string {
	t := r.d.MappingTable()
	if i == 0 && t.Len() == 0 {
		return "-"
	}
	if i < 0 || int(i) >= t.Len() {
		return fmt.Sprintf("<bad mapping %d>", i)
	}
	m := t.At(int(i))
	return fmt.Sprintf("map{%#x-%#x@%#x %q %s}", m.MemoryStart(), m.MemoryLimit(), m.FileOffset(),
		r.str(m.FilenameStrindex()), r.attrs(m.AttributeIndices()))
}

func (r resolver) function(i int32) string {
	t := r.d.FunctionTable()
	if i < 0 || int(i) >= t.Len() {
		return fmt.Sprintf("<bad function %d>", i)
	}
	f := t.At(int(i))
	return fmt.Sprintf("fn{%q %q %q %d}", r.str(f.NameStrindex()), r.str(f.SystemNameStrindex()),
		r.str(f.FilenameStrindex()), f.StartLine())
}

func (r resolver) location(i int32) string {
	t := r.d.LocationTable()
	if i < 0 || int(i) >= t.Len() {
		return fmt.Sprintf("<bad location %d>", i)
	}
	l := t.At(int(i))
	var sb strings.Builder
	fmt.Fprintf(&sb, "loc{%#x %s [", l.Address(), r.mapping(l.MappingIndex()))
	for k, ln := range l.Lines().All() {
		if k > 0 {
			sb.WriteString(" ")
		}
		fmt.Fprintf(&sb, "%s:%d:%d", r.function(ln.FunctionIndex()), ln.Line(), ln.Column())
	}
	fmt.Fprintf(&sb, "] %s}", r.attrs(l.AttributeIndices()))
	return sb.String()
}

func (r resolver) stack(i int32) string {
	t := r.d.StackTable()
	if i < 0 || int(i) >= t.Len() {
		return fmt.Sprintf("<bad stack %d>", i)
	}
	var parts []string
	for _, li := range t.At(int(i)).LocationIndices().All() {
		parts = append(parts, r.location(li))
	}
	return "stack[" + strings.Join(parts, " ") + "]"
}

func (r resolver) link(i int32) string {
	t := r.d.LinkTable()
	if i == 0 && t.Len() == 0 {
		return "-"
	}
	if i < 0 || int(i) >= t.Len() {
		return fmt.Sprintf("<bad link %d>", i)
	}
	l := t.At(int(i))
	return "link{" + l.TraceID().String() + "/" + l.SpanID().String() + "}"
}

func (r resolver) vt(v pprofile.ValueType) string {
	return r.str(v.TypeStrindex()) + "/" + r.str(v.UnitStrindex())
}

func (c *content) add(p pprofile.Profiles) {
	if c.ignoreEmpty && p.SampleCount() == 0 {
		tmp := newContent()
		tmp.add(p)
		for k := range tmp.profiles {
			c.ignored[k] = true
		}
		c.nignored += tmp.nprof
		return
	}
	c.requests++
	r := resolver{p.Dictionary()}
	d := p.Dictionary()
	// Resource and scope attributes may be written inline or with their
	// key and string values in the string table (pdata does the latter,
	// profcol the former): those strings are left out of the string set;
	// the attributes themselves are compared with every profile.
	inline := map[string]bool{}
	var walk func(v pcommon.Value)
	walk = func(v pcommon.Value) {
		switch v.Type() {
		case pcommon.ValueTypeStr:
			inline[v.Str()] = true
		case pcommon.ValueTypeMap:
			for k, x := range v.Map().All() {
				inline[k] = true
				walk(x)
			}
		case pcommon.ValueTypeSlice:
			for _, x := range v.Slice().All() {
				walk(x)
			}
		}
	}
	for _, rp := range p.ResourceProfiles().All() {
		for k, v := range rp.Resource().Attributes().All() {
			inline[k] = true
			walk(v)
		}
		for _, sp := range rp.ScopeProfiles().All() {
			for k, v := range sp.Scope().Attributes().All() {
				inline[k] = true
				walk(v)
			}
		}
	}
	for _, s := range d.StringTable().All() {
		if !inline[s] {
			c.dict["string"][fmt.Sprintf("%q", s)] = true
		}
	}
	for i := range d.MappingTable().Len() {
		c.dict["mapping"][r.mapping(int32(i))] = true
	}
	for i := range d.FunctionTable().Len() {
		c.dict["function"][r.function(int32(i))] = true
	}
	for i := range d.LocationTable().Len() {
		c.dict["location"][r.location(int32(i))] = true
	}
	for i := range d.StackTable().Len() {
		c.dict["stack"][r.stack(int32(i))] = true
	}
	for i := range d.LinkTable().Len() {
		c.dict["link"][r.link(int32(i))] = true
	}
	for i := range d.AttributeTable().Len() {
		c.dict["attribute"][r.attr(int32(i))] = true
	}
	for _, rp := range p.ResourceProfiles().All() {
		res := fmt.Sprintf("resource %s dropped=%d schema=%q", attrMap(rp.Resource().Attributes()),
			rp.Resource().DroppedAttributesCount(), rp.SchemaUrl())
		for _, sp := range rp.ScopeProfiles().All() {
			sc := sp.Scope()
			scope := fmt.Sprintf("scope %q %q %s dropped=%d schema=%q", sc.Name(), sc.Version(),
				attrMap(sc.Attributes()), sc.DroppedAttributesCount(), sp.SchemaUrl())
			for _, pr := range sp.Profiles().All() {
				st := r.vt(pr.SampleType())
				payload := sha256.Sum256(pr.OriginalPayload().AsRaw())
				head := fmt.Sprintf("%s\n%s\nprofile type=%s period_type=%s period=%d time=%d duration=%d id=%s dropped=%d attrs=%s payload=%q/%d/%x",
					res, scope, st, r.vt(pr.PeriodType()), pr.Period(), pr.Time(), pr.DurationNano(),
					pr.ProfileID().String(), pr.DroppedAttributesCount(), r.attrs(pr.AttributeIndices()),
					pr.OriginalPayloadFormat(), pr.OriginalPayload().Len(), payload[:8])
				lines := []string{head}
				var samples []string
				var nsamples int
				var sum int64
				for _, s := range pr.Samples().All() {
					nsamples++
					for _, v := range s.Values().All() {
						sum += v
					}
					samples = append(samples, fmt.Sprintf("sample values=%v timestamps=%v attrs=%s link=%s %s",
						s.Values().AsRaw(), s.TimestampsUnixNano().AsRaw(), r.attrs(s.AttributeIndices()),
						r.link(s.LinkIndex()), r.stack(s.StackIndex())))
				}
				sort.Strings(samples)
				lines = append(lines, samples...)
				h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
				key := hex.EncodeToString(h[:])
				if c.ignored[key] {
					c.nignored++
					continue
				}
				c.profiles[key]++
				c.detail[key] = lines
				c.nprof++
				c.samples += nsamples
				c.sums[st] += sum
			}
		}
	}
}

func readFile(c *content, path string, inDir bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	switch {
	case strings.HasSuffix(path, ".jsonl") || strings.HasSuffix(path, ".json"):
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<30)
		u := &pprofile.JSONUnmarshaler{}
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			p, err := u.UnmarshalProfiles(line)
			if err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
			c.add(p)
		}
		return sc.Err()
	case inDir || strings.HasSuffix(path, ".pb"):
		u := &pprofile.ProtoUnmarshaler{}
		p, err := u.UnmarshalProfiles(data)
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		c.add(p)
		return nil
	default:
		u := &pprofile.ProtoUnmarshaler{}
		for len(data) > 0 {
			if len(data) < 4 {
				return fmt.Errorf("%s: %d trailing bytes", path, len(data))
			}
			n := binary.BigEndian.Uint32(data)
			if uint64(len(data)-4) < uint64(n) {
				return fmt.Errorf("%s: record of %d bytes, %d left", path, n, len(data)-4)
			}
			p, err := u.UnmarshalProfiles(data[4 : 4+n])
			if err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
			c.add(p)
			data = data[4+n:]
		}
		return nil
	}
}

func load(path string, ignoreEmpty bool, ignored map[string]bool) (*content, error) {
	c := newContent()
	c.ignoreEmpty = ignoreEmpty
	if ignored != nil {
		c.ignored = ignored
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return c, readFile(c, path, false)
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := readFile(c, filepath.Join(path, e.Name()), true); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + "..."
	}
	return s
}

// explain prints how the unmatched profiles of A and B differ: the closest
// pair (same header first), and the first differing lines.
func explain(w io.Writer, a, b *content, onlyA, onlyB []string) {
	for _, ka := range onlyA {
		da := a.detail[ka]
		best := ""
		for _, kb := range onlyB {
			if b.detail[kb][0] == da[0] {
				best = kb
				break
			}
		}
		if best == "" {
			fmt.Fprintf(w, "  sent profile not received (%d samples):\n    %s\n", len(da)-1, clip(strings.ReplaceAll(da[0], "\n", "\n    ")))
			if len(onlyB) > 0 {
				fmt.Fprintf(w, "  a received profile left unmatched:\n    %s\n", clip(strings.ReplaceAll(b.detail[onlyB[0]][0], "\n", "\n    ")))
			}
			return
		}
		db := b.detail[best]
		ma, mb := map[string]int{}, map[string]int{}
		for _, s := range da[1:] {
			ma[s]++
		}
		for _, s := range db[1:] {
			mb[s]++
		}
		fmt.Fprintf(w, "  profile %s: %d vs %d samples\n", clip(strings.ReplaceAll(da[0], "\n", " | ")), len(da)-1, len(db)-1)
		n := 0
		for s, k := range ma {
			if mb[s] != k && n < 3 {
				fmt.Fprintf(w, "    sent only (%d vs %d): %s\n", k, mb[s], clip(s))
				n++
			}
		}
		n = 0
		for s, k := range mb {
			if ma[s] != k && n < 3 {
				fmt.Fprintf(w, "    received only (%d vs %d): %s\n", k, ma[s], clip(s))
				n++
			}
		}
		return
	}
}

func compare(a, b *content) (diffs, notes []string) {
	var onlyA, onlyB []string
	for k, n := range a.profiles {
		if b.profiles[k] < n {
			onlyA = append(onlyA, k)
		}
	}
	for k, n := range b.profiles {
		if a.profiles[k] < n {
			onlyB = append(onlyB, k)
		}
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	if len(onlyA) > 0 || len(onlyB) > 0 {
		var sb strings.Builder
		explain(&sb, a, b, onlyA, onlyB)
		diffs = append(diffs, fmt.Sprintf("profiles: %d sent, %d received; %d distinct sent not received, %d distinct received not sent\n%s",
			a.nprof, b.nprof, len(onlyA), len(onlyB), strings.TrimRight(sb.String(), "\n")))
	}
	for _, t := range []string{"string", "mapping", "function", "location", "stack", "link", "attribute"} {
		var miss, extra []string
		for k := range a.dict[t] {
			if !b.dict[t][k] {
				miss = append(miss, k)
			}
		}
		for k := range b.dict[t] {
			if !a.dict[t][k] {
				extra = append(extra, k)
			}
		}
		sort.Strings(miss)
		sort.Strings(extra)
		if len(miss) > 0 {
			diffs = append(diffs, fmt.Sprintf("dictionary %s: %d sent entries missing, e.g. %s", t, len(miss), clip(miss[0])))
		}
		if len(extra) > 0 {
			notes = append(notes, fmt.Sprintf("dictionary %s: %d received entries never sent (unused by any profile), e.g. %s", t, len(extra), clip(extra[0])))
		}
	}
	for t, s := range a.sums {
		if b.sums[t] != s {
			diffs = append(diffs, fmt.Sprintf("sum of %s: %d sent, %d received", t, s, b.sums[t]))
		}
	}
	for t, s := range b.sums {
		if _, ok := a.sums[t]; !ok {
			diffs = append(diffs, fmt.Sprintf("sum of %s: received %d, never sent", t, s))
		}
	}
	return diffs, notes
}

func hexID(s string, n int) ([]byte, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != n || bytes.Equal(b, make([]byte, n)) {
		return nil, false
	}
	return b, true
}

func decorate(name, in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	u := &pprofile.ProtoUnmarshaler{}
	p, err := u.UnmarshalProfiles(data)
	if err != nil {
		return err
	}
	d := p.Dictionary()
	if d.LinkTable().Len() == 0 {
		d.LinkTable().AppendEmpty() // index 0: no link
	}
	links := 0
	for _, rp := range p.ResourceProfiles().All() {
		rp.SetSchemaUrl("https://opentelemetry.io/schemas/1.37.0")
		a := rp.Resource().Attributes()
		a.PutStr("service.name", name)
		a.PutStr("deployment.environment.name", "ci")
		a.PutInt("peer.int", -42)
		a.PutDouble("peer.double", 2.5)
		a.PutBool("peer.bool", true)
		a.PutStr("peer.text", "ünïcode ✓ \"quoted\"")
		a.PutEmptyBytes("peer.bytes").FromRaw([]byte{0, 1, 0xfe, 0xff})
		sl := a.PutEmptySlice("peer.list")
		sl.AppendEmpty().SetStr("a")
		sl.AppendEmpty().SetInt(7)
		a.PutEmptyMap("peer.map").PutStr("k", "v")
		for _, sp := range rp.ScopeProfiles().All() {
			sp.SetSchemaUrl("https://opentelemetry.io/schemas/1.37.0")
			sp.Scope().SetName("profcol.test/peer")
			sp.Scope().SetVersion("1.2.3")
			sp.Scope().Attributes().PutStr("peer.scope", "yes")
			sp.Scope().Attributes().PutInt("peer.scope.n", 3)
			for _, pr := range sp.Profiles().All() {
				for _, s := range pr.Samples().All() {
					attrs, err := pprofile.FromAttributeIndices(d.AttributeTable(), s, d)
					if err != nil {
						return err
					}
					sv, ok1 := attrs.Get("span_id")
					tv, ok2 := attrs.Get("trace_id")
					if !ok1 || !ok2 {
						continue
					}
					span, ok1 := hexID(sv.AsString(), 8)
					trace, ok2 := hexID(tv.AsString(), 16)
					if !ok1 || !ok2 {
						continue
					}
					l := pprofile.NewLink()
					l.SetSpanID(pcommon.SpanID(span))
					l.SetTraceID(pcommon.TraceID(trace))
					idx, err := pprofile.SetLink(d.LinkTable(), l)
					if err != nil {
						return err
					}
					s.SetLinkIndex(idx)
					links++
				}
			}
		}
	}
	m := &pprofile.ProtoMarshaler{}
	b, err := m.MarshalProfiles(p)
	if err != nil {
		return err
	}
	fmt.Printf("decorated %s: %d profiles, %d samples linked\n", name, p.ProfileCount(), links)
	return os.WriteFile(out, b, 0o644)
}

func main() {
	args := os.Args[1:]
	if len(args) == 4 && args[0] == "-decorate" {
		if err := decorate(args[1], args[2], args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "pdatacheck:", err)
			os.Exit(2)
		}
		return
	}
	ignoreEmpty := false
	if len(args) > 0 && args[0] == "-ignore-empty" {
		ignoreEmpty = true
		args = args[1:]
	}
	if len(args) == 2 && args[0] == "-count" {
		c, err := load(args[1], false, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pdatacheck:", err)
			os.Exit(2)
		}
		fmt.Printf("%d profiles %d samples %d requests\n", c.nprof, c.samples, c.requests)
		return
	}
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: pdatacheck [-ignore-empty] SENT GOT | pdatacheck -count IN")
		os.Exit(2)
	}
	a, err := load(args[0], ignoreEmpty, nil)
	if err == nil && a.nprof == 0 {
		err = errors.New(args[0] + ": no profiles")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pdatacheck:", err)
		os.Exit(2)
	}
	b, err := load(args[1], false, a.ignored)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pdatacheck:", err)
		os.Exit(2)
	}
	diffs, notes := compare(a, b)
	for _, n := range notes {
		fmt.Println("note:", n)
	}
	if len(diffs) > 0 {
		for _, d := range diffs {
			fmt.Println("differ:", d)
		}
		os.Exit(1)
	}
	var total int64
	for _, s := range a.sums {
		total += s
	}
	n := 0
	for _, m := range a.dict {
		n += len(m)
	}
	ign := ""
	if a.nignored > 0 {
		ign = fmt.Sprintf(" (%d sampleless profiles of sampleless requests left out, %d of them arrived)", a.nignored, b.nignored)
	}
	fmt.Printf("equal: %d profiles, %d samples, %d sample types (value sums equal), %d dictionary entries; %d requests sent, %d received%s\n",
		a.nprof, a.samples, len(a.sums), n, a.requests, b.requests, ign)
}
