package toolchain

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		lang, output, want string
	}{
		{"PYTHON", "Python 3.11.2\n", "3.11.2"},
		{"PYTHON", "Python 3.13.0rc1\n", "3.13.0rc1"},
		{"JAVASCRIPT", "v20.20.2\n", "20.20.2"},
		{"JAVASCRIPT", "v18.19.0", "18.19.0"},
		{"TYPESCRIPT", "Version 5.9.3\n", "5.9.3"},
		{"TYPESCRIPT", "Version 5.6.0-beta\n", "5.6.0-beta"},
		{"BASH", "GNU bash, version 5.2.15(1)-release (x86_64-pc-linux-gnu)\nCopyright (C) 2022 Free Software Foundation, Inc.\n", "5.2.15"},
		{"GO", "go version go1.26.8 linux/amd64\n", "1.26.8"},
		{"GO", "go version go1.27rc1 linux/arm64\n", "1.27rc1"},
		{"RUST", "rustc 1.63.0\n", "1.63.0"},
		{"RUST", "rustc 1.80.0 (051478957 2024-07-21)\n", "1.80.0"},
		{"JAVA", "javac 17.0.15\n", "17.0.15"},
		{"JAVA", "Picked up JAVA_TOOL_OPTIONS: -Xmx1.5g\njavac 1.8.0_392\n", "1.8.0_392"},
		{"C", "12.2.0\n", "12.2.0"},
		{"CPP", "  14.2.0  \n", "14.2.0"},
		{"C", "12\n", "12"},
		// No version: wrong tool, empty output, marker without a number.
		{"PYTHON", "", ""},
		{"PYTHON", "bash: python3: command not found\n", ""},
		{"JAVASCRIPT", "very old\n", ""},
		{"GO", "go version devel +abc\n", ""},
		{"JAVA", "Error: could not open `jvm.cfg'\n", ""},
		{"C", "gcc: error: unrecognized option\n", ""},
		{"COBOL", "1.0\n", ""},
	}
	for _, tc := range tests {
		if got := parseVersion(tc.lang, tc.output); got != tc.want {
			t.Errorf("parseVersion(%q, %q) = %q, want %q", tc.lang, tc.output, got, tc.want)
		}
	}
}

func TestLeadingVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1.2.3", "1.2.3"},
		{"1.2.3.", "1.2.3"},
		{"1.2.3-", "1.2.3"},
		{"5.2.15(1)-release", "5.2.15"},
		{"1.26.8 linux/amd64", "1.26.8"},
		{"v1", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := leadingVersion(tc.in); got != tc.want {
			t.Errorf("leadingVersion(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSpecs(t *testing.T) {
	compiled := []string{"TYPESCRIPT", "GO", "RUST", "JAVA", "C", "CPP"}
	for _, lang := range Languages() {
		s, ok := specFor(lang)
		if !ok {
			t.Fatalf("no spec for %s", lang)
		}
		if s.compiled != slices.Contains(compiled, lang) {
			t.Errorf("%s: compiled = %v", lang, s.compiled)
		}
		paths := Executables(lang)
		if len(paths) == 0 {
			t.Errorf("%s: no executables", lang)
		}
		for _, p := range paths {
			if !strings.HasPrefix(p, "/usr/") && !strings.HasPrefix(p, "/bin/") && !strings.HasPrefix(p, "/lib/") {
				t.Errorf("%s: %s is not under a directory sandboxes mount", lang, p)
			}
		}
	}
	if Executables("COBOL") != nil {
		t.Error("Executables(COBOL) is not nil")
	}
	if _, err := ProbeLanguage(context.Background(), "COBOL"); !errors.Is(err, ErrUnknownLanguage) {
		t.Errorf("ProbeLanguage(COBOL) = %v, want ErrUnknownLanguage", err)
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	a, b := dir+"/a", dir+"/b"
	if err := os.WriteFile(b, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := resolve([][]string{{a, b}, {b}})
	if err != nil || !slices.Equal(got, []string{b, b}) {
		t.Fatalf("resolve = %v, %v; want [b b]", got, err)
	}
	// A directory is no executable.
	if _, err := resolve([][]string{{b}, {a, dir}}); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("resolve with a missing executable = %v, want ErrNotInstalled", err)
	}
}

func TestRunFailure(t *testing.T) {
	if _, err := run(context.Background(), []string{"/bin/bash", "-c", "echo broken >&2; exit 3"}); err == nil ||
		!strings.Contains(err.Error(), "broken") {
		t.Fatalf("run of a failing command = %v, want an error quoting its output", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := run(ctx, []string{"/bin/bash", "-c", "sleep 5"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("run with a cancelled context = %v, want context.Canceled", err)
	}
}

// TestProbe runs the real tools: .ci/install-deps installs every toolchain,
// so each must be found here with a version.
func TestProbe(t *testing.T) {
	available, missing := Probe(context.Background())
	if missing == nil {
		t.Fatal("missing is nil")
	}
	var got []string
	for _, tc := range available {
		got = append(got, tc.Language)
		t.Logf("%-10s %-12s compiled=%-5v %v", tc.Language, tc.Version, tc.Compiled, tc.Paths)
		if tc.Version == "" || strings.ContainsAny(tc.Version, " \n") {
			t.Errorf("%s: bad version %q", tc.Language, tc.Version)
		}
		if len(tc.Paths) == 0 {
			t.Errorf("%s: no paths", tc.Language)
		}
		for _, p := range tc.Paths {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: %v", tc.Language, err)
			}
		}
	}
	for lang, why := range missing {
		t.Errorf("%s missing: %s", lang, why)
	}
	// Every language, in order: nothing is left out on a machine set up by .ci/install-deps.
	if want := Languages(); !slices.Equal(got, want) {
		t.Fatalf("available languages %v, want %v", got, want)
	}
}
