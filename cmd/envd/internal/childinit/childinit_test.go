package childinit

import (
	"reflect"
	"testing"
)

func TestArgsRoundTrip(t *testing.T) {
	opts := Options{SetOOMScore: true, OOMScoreAdj: 500, CPUSeconds: 3}
	argv := []string{"/usr/bin/python3", "/run/envd/exec-1.py"}
	args := Args("/.codeint/envd", opts, argv)
	if args[0] != "/.codeint/envd" {
		t.Fatalf("args[0] = %q", args[0])
	}
	gotOpts, gotArgv, err := parse(args[1:])
	if err != nil || gotOpts != opts || !reflect.DeepEqual(gotArgv, argv) {
		t.Fatalf("parse = %+v %q %v", gotOpts, gotArgv, err)
	}
	if o, _, err := parse([]string{Arg, "-", "0", "--", "p"}); err != nil || o != (Options{}) {
		t.Fatalf("parse without options = %+v, %v", o, err)
	}
	for _, bad := range [][]string{nil, {Arg, "1", "x", "--", "p"}, {Arg, "1", "2", "p", "q"}, {Arg, "2000", "0", "--", "p"}} {
		if _, _, err := parse(bad); err == nil {
			t.Errorf("parse(%q) succeeded", bad)
		}
	}
}
