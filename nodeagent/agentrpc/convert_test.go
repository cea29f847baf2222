package agentrpc

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/agentrpc/agentpb"
)

// Values with every field set, so that a field a conversion forgets shows
// up as a difference. requireAllSet checks they stay complete when
// agentapi grows a field.

func fullStartRequest() agentapi.StartRequest {
	return agentapi.StartRequest{
		SandboxID: "sb-1", TeamID: "team-1", Template: "python", Runtime: agentapi.RuntimeGVisor,
		VCPUs: 1.5, MemoryMB: 512, DiskMB: 2048, Env: map[string]string{"A": "1", "B": "two"},
	}
}

func fullStartResult() agentapi.StartResult {
	return agentapi.StartResult{NodeID: "node-1", Duration: 1234567 * time.Nanosecond}
}

func fullExecRequest() agentapi.ExecRequest {
	return agentapi.ExecRequest{
		ExecutionID: "ex-1", Language: agentapi.Rust, Code: "fn main() {}", Stdin: "in\n",
		Env: map[string]string{"X": "y"}, Timeout: 3 * time.Second, CPUTime: 1500 * time.Millisecond,
		MaxOutputBytes: 1 << 20, Args: []string{"-v", "two words"}, Cwd: "/work", ContextID: "ctx-1",
	}
}

func fullChunk(seq int64) agentapi.OutputChunk {
	return agentapi.OutputChunk{
		Stream: agentapi.Stderr, Data: []byte{0, 1, 2, 0xff}, Seq: seq,
		Display: &agentapi.DisplayData{Type: "image/png", Data: "iVBORw0KGgo="},
	}
}

func fullExecResult() agentapi.ExecResult {
	return agentapi.ExecResult{
		Stdout: "out", Stderr: "err", ExitCode: -9, Truncated: true, TimedOut: true,
		Error:    &agentapi.ExecError{Name: agentapi.LimitOOM, Value: "killed", Traceback: "line 1\nline 2"},
		Duration: 2 * time.Second, CPUTime: 1900 * time.Millisecond, PeakMemoryBytes: 123 << 20,
		Compile: &agentapi.CompileResult{ExitCode: 1, Stdout: "cout", Stderr: "cerr", Truncated: true,
			Duration: 700 * time.Millisecond},
		Results:          []agentapi.DisplayData{{Type: "text/plain", Data: "42"}, {Type: "text/html", Data: "<b>x</b>"}},
		ContextRestarted: true,
	}
}

// requireAllSet fails unless every field of v, and of the structs,
// pointers, slices and maps it holds, is set.
func requireAllSet(t *testing.T, name string, v any) {
	t.Helper()
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		if v.IsZero() {
			t.Errorf("%s is not set: the round trip would not test it", path)
			return
		}
		switch v.Kind() {
		case reflect.Pointer:
			walk(path, v.Elem())
		case reflect.Struct:
			for i := range v.NumField() {
				walk(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		case reflect.Slice:
			if k := v.Type().Elem().Kind(); k != reflect.Struct && k != reflect.Pointer {
				return // bytes and strings may be zero
			}
			for i := range v.Len() {
				walk(path+"[i]", v.Index(i))
			}
		}
	}
	walk(name, reflect.ValueOf(v))
}

// wire sends m through the protobuf encoding, as gRPC does.
func wire[M proto.Message](t *testing.T, m M, out M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("marshal %T: %v", m, err)
	}
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatalf("unmarshal %T: %v", m, err)
	}
	return out
}

func TestConvertRoundTripKeepsEveryField(t *testing.T) {
	startReq, startRes := fullStartRequest(), fullStartResult()
	execReq, chunk, execRes := fullExecRequest(), fullChunk(7), fullExecResult()
	for name, v := range map[string]any{"StartRequest": startReq, "StartResult": startRes,
		"ExecRequest": execReq, "OutputChunk": chunk, "ExecResult": execRes} {
		requireAllSet(t, name, v)
	}

	if got := startRequestFromPB(wire(t, startRequestToPB(startReq), &agentpb.StartRequest{})); !reflect.DeepEqual(got, startReq) {
		t.Errorf("StartRequest: got %+v, want %+v", got, startReq)
	}
	if got := startResultFromPB(wire(t, startResultToPB(startRes), &agentpb.StartResult{})); got != startRes {
		t.Errorf("StartResult: got %+v, want %+v", got, startRes)
	}
	id, got := execRequestFromPB(wire(t, execRequestToPB("sb-9", execReq), &agentpb.ExecRequest{}))
	if id != "sb-9" || !reflect.DeepEqual(got, execReq) {
		t.Errorf("ExecRequest: got %q %+v, want sb-9 %+v", id, got, execReq)
	}
	if got := chunkFromPB(wire(t, chunkToPB(chunk), &agentpb.OutputChunk{})); !reflect.DeepEqual(got, chunk) {
		t.Errorf("OutputChunk: got %+v, want %+v", got, chunk)
	}
	if got := execResultFromPB(wire(t, execResultToPB(execRes), &agentpb.ExecResult{})); !reflect.DeepEqual(got, execRes) {
		t.Errorf("ExecResult: got %+v, want %+v", got, execRes)
	}
}

func TestConvertRoundTripKeepsZeroValues(t *testing.T) {
	if got := startRequestFromPB(wire(t, startRequestToPB(agentapi.StartRequest{}), &agentpb.StartRequest{})); !reflect.DeepEqual(got, agentapi.StartRequest{}) {
		t.Errorf("StartRequest: got %+v, want the zero value", got)
	}
	if _, got := execRequestFromPB(wire(t, execRequestToPB("", agentapi.ExecRequest{}), &agentpb.ExecRequest{})); !reflect.DeepEqual(got, agentapi.ExecRequest{}) {
		t.Errorf("ExecRequest: got %+v, want the zero value", got)
	}
	if got := chunkFromPB(wire(t, chunkToPB(agentapi.OutputChunk{}), &agentpb.OutputChunk{})); !reflect.DeepEqual(got, agentapi.OutputChunk{}) {
		t.Errorf("OutputChunk: got %+v, want the zero value (no Display)", got)
	}
	if got := execResultFromPB(wire(t, execResultToPB(agentapi.ExecResult{}), &agentpb.ExecResult{})); !reflect.DeepEqual(got, agentapi.ExecResult{}) {
		t.Errorf("ExecResult: got %+v, want the zero value (no Error, Compile, Results)", got)
	}
}
