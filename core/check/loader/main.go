// gadget-check-loader loads the programs of eBPF objects into the running kernel's verifier
// the way Inspektor Gadget's runtime prepares them (cilium/ebpf, as ig's pkg/operators/ebpf),
// and prints one JSON line per object and per program. It pins nothing: every map and
// program is closed before the next object is loaded.
//
// Usage:
//
//	gadget-check-loader OBJ...                 each object with its own default params
//	gadget-check-loader -manifest FILE.json    [{"id": "...", "path": "...", "params": {"k": "v"}}]
//
// Lines (one JSON document each, "kind" first):
//
//	{"kind":"kernel","release":"6.1.0-…","machine":"x86_64"}
//	{"kind":"program","object":ID,"name":…,"section":…,"progType":…,"loaded":true,"insns":43,…}
//	{"kind":"object","object":ID,"loaded":false,"error":…,"reason":…}
//	{"kind":"end"}
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// objectInput is one object to check: an id echoed in every line, its path and the
// param values (gadget.yaml's params.ebpf defaults) to set before loading.
type objectInput struct {
	ID     string            `json:"id"`
	Path   string            `json:"path"`
	Params map[string]string `json:"params,omitempty"`
}

type kernelLine struct {
	Kind    string `json:"kind"`
	Release string `json:"release"`
	Machine string `json:"machine"`
}

type programLine struct {
	Kind             string   `json:"kind"`
	Object           string   `json:"object"`
	Name             string   `json:"name"`
	Section          string   `json:"section"`
	ProgType         string   `json:"progType"`
	AttachTo         string   `json:"attachTo,omitempty"`
	Loaded           bool     `json:"loaded"`
	Skipped          string   `json:"skipped,omitempty"`
	Insns            int      `json:"insns"`
	TotalStates      int      `json:"totalStates"`
	PeakStates       int      `json:"peakStates"`
	MaxStatesPerInsn int      `json:"maxStatesPerInsn"`
	Error            string   `json:"error,omitempty"`
	Reason           string   `json:"reason,omitempty"`
	Log              []string `json:"log,omitempty"`
}

type objectLine struct {
	Kind     string   `json:"kind"`
	Object   string   `json:"object"`
	Loaded   bool     `json:"loaded"`
	Programs int      `json:"programs"`
	Prepared []string `json:"prepared,omitempty"`
	Error    string   `json:"error,omitempty"`
	Reason   string   `json:"reason,omitempty"`
}

var out = json.NewEncoder(os.Stdout)

func emit(v any) {
	if err := out.Encode(v); err != nil {
		fmt.Fprintf(os.Stderr, "gadget-check-loader: writing result: %v\n", err)
		os.Exit(2)
	}
}

func main() {
	manifest := flag.String("manifest", "", "JSON list of {id, path, params}")
	flag.Parse()

	inputs, err := readInputs(*manifest, flag.Args())
	if err != nil {
		fmt.Fprintf(os.Stderr, "gadget-check-loader: %v\n", err)
		os.Exit(2)
	}

	var uts unix.Utsname
	_ = unix.Uname(&uts)
	emit(kernelLine{Kind: "kernel", Release: unix.ByteSliceToString(uts.Release[:]), Machine: unix.ByteSliceToString(uts.Machine[:])})

	// Kernels before 5.11 account BPF memory to RLIMIT_MEMLOCK; ig lifts it too.
	_ = rlimit.RemoveMemlock()

	// Can this process load tracing programs at all? Otherwise every object would look refused.
	if err := probePrivilege(); err != nil {
		emit(map[string]string{"kind": "denied", "reason": deniedReason(err)})
		emit(map[string]string{"kind": "end"})
		return
	}

	cache := btf.NewCache()
	for _, in := range inputs {
		checkObject(in, cache)
	}
	emit(map[string]string{"kind": "end"})
}

// probePrivilege loads the smallest tracepoint program (r0 = 0; exit), which needs CAP_BPF and
// CAP_PERFMON (or CAP_SYS_ADMIN), as every tracing gadget does.
func probePrivilege() error {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.TracePoint,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return err
		}
		return nil // another failure is not about privileges; the objects will tell
	}
	return p.Close()
}

func deniedReason(err error) string {
	return "loading BPF programs is not permitted here (" + strings.TrimSuffix(err.Error(), memlockHint) + "): it needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)"
}

// cilium/ebpf adds this to every EPERM; the loader lifts RLIMIT_MEMLOCK, so it only misleads.
const memlockHint = " (MEMLOCK may be too low, consider rlimit.RemoveMemlock)"

func readInputs(manifest string, args []string) ([]objectInput, error) {
	if manifest == "" {
		if len(args) == 0 {
			return nil, errors.New("usage: gadget-check-loader OBJ... | -manifest FILE.json")
		}
		inputs := make([]objectInput, 0, len(args))
		for _, a := range args {
			inputs = append(inputs, objectInput{ID: a, Path: a})
		}
		return inputs, nil
	}
	data, err := os.ReadFile(manifest)
	if err != nil {
		return nil, err
	}
	var inputs []objectInput
	if err := json.Unmarshal(data, &inputs); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", manifest, err)
	}
	return inputs, nil
}

func checkObject(in objectInput, cache *btf.Cache) {
	spec, err := ebpf.LoadCollectionSpec(in.Path)
	if err != nil {
		emit(objectLine{Kind: "object", Object: in.ID, Error: err.Error(), Reason: "not a loadable eBPF object: " + err.Error()})
		return
	}
	if spec.Types == nil {
		// ig refuses objects without BTF ("missing types in ebpf spec").
		emit(objectLine{Kind: "object", Object: in.ID, Error: "missing types in ebpf spec", Reason: "the object has no BTF (ig refuses it)"})
		return
	}
	prepared, err := prepareLikeIg(spec, in.Params)
	if err != nil {
		emit(objectLine{Kind: "object", Object: in.ID, Error: err.Error(), Reason: err.Error(), Prepared: prepared})
		return
	}

	names := make([]string, 0, len(spec.Programs))
	for name := range spec.Programs {
		names = append(names, name)
	}
	sort.Strings(names)

	// First exactly what ig does: one collection with every program. When it loads, every
	// program is reported with its verifier statistics.
	opts := ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats}, Cache: cache}
	coll, collErr := ebpf.NewCollectionWithOptions(spec, opts)
	if collErr == nil {
		for _, name := range names {
			p := spec.Programs[name]
			line := baseLine(in.ID, name, p)
			if prog := coll.Programs[name]; prog != nil {
				line.Loaded = true
				fillStats(&line, strings.Split(prog.VerifierLog, "\n"))
			} else {
				line.Skipped = skipReason(p)
			}
			emit(line)
		}
		coll.Close()
		emit(objectLine{Kind: "object", Object: in.ID, Loaded: true, Programs: len(names), Prepared: prepared})
		return
	}

	// The collection was refused: find out which program (or map) and why, one at a time.
	maps, mapErr := loadMapsOnly(spec, cache)
	if mapErr != nil {
		emit(objectLine{Kind: "object", Object: in.ID, Programs: len(names), Prepared: prepared, Error: mapErr.Error(), Reason: summarize(mapErr)})
		return
	}
	defer maps.Close()
	failed := 0
	for _, name := range names {
		p := spec.Programs[name]
		line := baseLine(in.ID, name, p)
		if p.Type == ebpf.UnspecifiedProgram {
			line.Skipped = skipReason(p)
			emit(line)
			continue
		}
		loadOne(&line, spec, name, maps, cache)
		if !line.Loaded {
			failed++
		}
		emit(line)
	}
	obj := objectLine{Kind: "object", Object: in.ID, Programs: len(names), Prepared: prepared, Error: collErr.Error()}
	if failed == 0 {
		// Every program loads on its own but not together (e.g. a program array's contents).
		obj.Reason = summarize(collErr)
	}
	emit(obj)
}

func baseLine(object, name string, p *ebpf.ProgramSpec) programLine {
	return programLine{Kind: "program", Object: object, Name: name, Section: p.SectionName, ProgType: p.Type.String(), AttachTo: p.AttachTo}
}

func skipReason(p *ebpf.ProgramSpec) string {
	return fmt.Sprintf("section %q names no program type cilium/ebpf knows; ig does not load it", p.SectionName)
}

// loadMapsOnly creates every map of the spec (what ig creates before its programs), with the
// program arrays left empty, so that single programs can be loaded against them.
func loadMapsOnly(spec *ebpf.CollectionSpec, cache *btf.Cache) (*ebpf.Collection, error) {
	s := spec.Copy()
	s.Programs = map[string]*ebpf.ProgramSpec{}
	for _, m := range s.Maps {
		if m.Type == ebpf.ProgramArray {
			m.Contents = nil
		}
	}
	return ebpf.NewCollectionWithOptions(s, ebpf.CollectionOptions{Cache: cache})
}

// loadOne loads a single program against the maps already created, with the verifier log
// on, and fills line with its figures or the reason it was refused.
func loadOne(line *programLine, spec *ebpf.CollectionSpec, name string, maps *ebpf.Collection, cache *btf.Cache) {
	s := spec.Copy()
	s.Programs = map[string]*ebpf.ProgramSpec{name: s.Programs[name]}
	for _, m := range s.Maps {
		if m.Type == ebpf.ProgramArray {
			m.Contents = nil
		}
	}
	opts := ebpf.CollectionOptions{
		MapReplacements: maps.Maps,
		Programs:        ebpf.ProgramOptions{LogLevel: ebpf.LogLevelBranch | ebpf.LogLevelStats},
		Cache:           cache,
	}
	coll, err := ebpf.NewCollectionWithOptions(s, opts)
	if err == nil {
		line.Loaded = true
		fillStats(line, strings.Split(coll.Programs[name].VerifierLog, "\n"))
		coll.Close()
		return
	}
	line.Error = err.Error()
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		fillStats(line, ve.Log)
		line.Log = meaningfulTail(ve.Log, 4)
		if len(line.Log) > 0 {
			line.Reason = line.Log[len(line.Log)-1]
			return
		}
	}
	line.Reason = summarize(err)
}

var statsLine = regexp.MustCompile(`processed (\d+) insns \(limit \d+\) max_states_per_insn (\d+) total_states (\d+) peak_states (\d+)`)

func fillStats(line *programLine, log []string) {
	for i := len(log) - 1; i >= 0; i-- {
		if m := statsLine.FindStringSubmatch(log[i]); m != nil {
			line.Insns, _ = strconv.Atoi(m[1])
			line.MaxStatesPerInsn, _ = strconv.Atoi(m[2])
			line.TotalStates, _ = strconv.Atoi(m[3])
			line.PeakStates, _ = strconv.Atoi(m[4])
			return
		}
	}
}

// meaningfulTail returns the verifier's last n lines that say something: the instruction it
// stopped at and the reason, without the statistics and bookkeeping lines that follow.
func meaningfulTail(log []string, n int) []string {
	var keep []string
	for _, l := range log {
		t := strings.TrimSpace(l)
		switch {
		case t == "",
			statsLine.MatchString(t),
			strings.HasPrefix(t, "verification time"),
			strings.HasPrefix(t, "stack depth"),
			strings.HasPrefix(t, "(truncated)"):
			continue
		}
		keep = append(keep, t)
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return keep
}

var kfuncMissing = regexp.MustCompile(`kfunc "([^"]+)": not supported`)

// summarize turns a cilium/ebpf error into the one line a user needs.
func summarize(err error) string {
	msg := err.Error()
	if m := kfuncMissing.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("extern (func ksym) '%s': not found in kernel BTF (cilium/ebpf: %s)", m[1], m[0])
	}
	return strings.ReplaceAll(msg, memlockHint, "")
}

// prepareLikeIg applies what ig's ebpf operator does to a CollectionSpec before
// NewCollectionWithOptions, and returns a short note for each change.
func prepareLikeIg(spec *ebpf.CollectionSpec, params map[string]string) ([]string, error) {
	var notes []string

	// Param values (gadget.yaml defaults): ig writes every GADGET_PARAM into .rodata.
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, name := range keys {
		v, ok := spec.Variables[name]
		if !ok || v.Type == nil {
			continue
		}
		if err := setVariable(v, params[name]); err != nil {
			return notes, fmt.Errorf("param %s=%q: %w", name, params[name], err)
		}
		notes = append(notes, fmt.Sprintf("param %s=%s", name, params[name]))
	}

	// Maps declared with max_entries 0 are sized at run time from their <map>_max_entries param
	// (e.g. ig_build_id / ig_build_id_max_entries).
	mapNames := make([]string, 0, len(spec.Maps))
	for name := range spec.Maps {
		mapNames = append(mapNames, name)
	}
	sort.Strings(mapNames)
	for _, name := range mapNames {
		m := spec.Maps[name]
		if m.MaxEntries != 0 {
			continue
		}
		v, ok := spec.Variables[name+"_max_entries"]
		if !ok {
			continue
		}
		n, err := variableUint(v)
		if err != nil {
			return notes, fmt.Errorf("map %s: reading %s_max_entries: %w", name, name, err)
		}
		m.MaxEntries = uint32(n)
		notes = append(notes, fmt.Sprintf("map %s max_entries=%d", name, n))
	}

	// Tracer maps (GADGET_TRACER_MAP) are ring buffers; ig turns them into perf event arrays
	// on kernels without ring buffers.
	if features.HaveMapType(ebpf.RingBuf) != nil {
		for _, mapName := range mapNames {
			m := spec.Maps[mapName]
			if m.Type != ebpf.RingBuf {
				continue
			}
			if _, err := spec.Types.AnyTypeByName("gadget_map_tracer_" + mapName); err != nil {
				continue
			}
			m.Type, m.KeySize, m.ValueSize, m.MaxEntries = ebpf.PerfEventArray, 4, 4, 0
			notes = append(notes, "map "+mapName+" ringbuf→perf event array")
		}
	}

	// bpf_ktime_get_boot_ns (5.8+) becomes bpf_ktime_get_ns on older kernels, as ig does.
	if features.HaveProgramHelper(ebpf.Kprobe, asm.FnKtimeGetBootNs) != nil {
		patched := false
		for _, p := range spec.Programs {
			for i := range p.Instructions {
				ins := &p.Instructions[i]
				if ins.IsBuiltinCall() && ins.Constant == int64(asm.FnKtimeGetBootNs) {
					ins.Constant = int64(asm.FnKtimeGetNs)
					patched = true
				}
			}
		}
		if patched {
			notes = append(notes, "bpf_ktime_get_boot_ns→bpf_ktime_get_ns")
		}
	}
	return notes, nil
}

func underlying(t btf.Type) btf.Type {
	for {
		switch x := t.(type) {
		case *btf.Typedef:
			t = x.Type
		case *btf.Const:
			t = x.Type
		case *btf.Volatile:
			t = x.Type
		default:
			return t
		}
	}
}

// setVariable writes a param value given as text, the way ig parses it for the variable's type:
// integers (signed or not, any size), bools, enums and char arrays (strings).
func setVariable(v *ebpf.VariableSpec, text string) error {
	t := underlying(v.Type.Type)
	size := int(v.Size())
	buf := make([]byte, size)
	switch x := t.(type) {
	case *btf.Int:
		var u uint64
		switch {
		case x.Encoding&btf.Bool != 0:
			b, err := strconv.ParseBool(text)
			if err != nil {
				return err
			}
			if b {
				u = 1
			}
		case x.Encoding&btf.Signed != 0:
			n, err := strconv.ParseInt(text, 0, size*8)
			if err != nil {
				return err
			}
			u = uint64(n)
		default:
			n, err := strconv.ParseUint(text, 0, size*8)
			if err != nil {
				return err
			}
			u = n
		}
		putNative(buf, u)
	case *btf.Enum:
		n, err := strconv.ParseInt(text, 0, 64)
		if err != nil {
			return err
		}
		putNative(buf, uint64(n))
	case *btf.Array:
		if len(text) > size {
			return fmt.Errorf("longer than %d bytes", size)
		}
		copy(buf, text)
	default:
		// ig's other param kinds (IP addresses, …) keep the object's own default here.
		return nil
	}
	copy(v.Value, buf)
	return nil
}

func putNative(buf []byte, u uint64) {
	// BPF objects for amd64 and arm64 are little-endian.
	for i := range buf {
		buf[i] = byte(u >> (8 * i))
	}
}

func variableUint(v *ebpf.VariableSpec) (uint64, error) {
	if v.Value == nil {
		return 0, errors.New("no value")
	}
	var u uint64
	for i, b := range v.Value {
		if i >= 8 {
			break
		}
		u |= uint64(b) << (8 * i)
	}
	return u, nil
}
