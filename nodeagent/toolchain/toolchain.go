package toolchain

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Toolchain is one language as a host offers it.
type Toolchain struct {
	Language string   // e.g. "PYTHON"
	Version  string   // e.g. "3.11.2": the number as the tool prints it, without prefix ("v20.1.0" gives "20.1.0")
	Compiled bool     // the language has a compile step (TYPESCRIPT, GO, RUST, JAVA, C, CPP)
	Paths    []string // the executables it needs, absolute paths that exist
}

var (
	// ErrUnknownLanguage is returned for a language this package does not know.
	ErrUnknownLanguage = errors.New("toolchain: unknown language")
	// ErrNotInstalled is returned when an executable a toolchain needs is absent.
	ErrNotInstalled = errors.New("toolchain: not installed")
)

// commandTimeout bounds each version command.
const commandTimeout = 10 * time.Second

// Languages returns every language this package knows, in probe order.
func Languages() []string {
	return []string{"PYTHON", "JAVASCRIPT", "TYPESCRIPT", "BASH", "GO", "RUST", "JAVA", "C", "CPP"}
}

// spec says how to find and ask one language's toolchain.
type spec struct {
	compiled bool
	// needs lists the executables the toolchain needs; each is given as
	// alternatives, of which the first that exists is used.
	needs [][]string
	// argv builds the version command from the executables found.
	argv func(paths []string) []string
	// prefix starts the output line that carries the version.
	prefix string
}

func specFor(lang string) (spec, bool) {
	flag := func(f string) func([]string) []string {
		return func(p []string) []string { return []string{p[0], f} }
	}
	switch lang {
	case "PYTHON":
		return spec{needs: [][]string{{"/usr/bin/python3"}}, argv: flag("--version"), prefix: "Python "}, true
	case "JAVASCRIPT":
		return spec{needs: [][]string{{"/usr/bin/node"}}, argv: flag("--version"), prefix: "v"}, true
	case "TYPESCRIPT":
		return spec{compiled: true, needs: [][]string{
			{"/usr/bin/node"},
			{"/usr/local/lib/node_modules/typescript/bin/tsc", "/usr/lib/node_modules/typescript/bin/tsc"},
		}, argv: func(p []string) []string { return []string{p[0], p[1], "--version"} }, prefix: "Version "}, true
	case "BASH":
		return spec{needs: [][]string{{"/bin/bash"}}, argv: flag("--version"), prefix: "GNU bash, version "}, true
	case "GO":
		return spec{compiled: true, needs: [][]string{{"/usr/local/go/bin/go", "/usr/lib/go/bin/go"}},
			argv: flag("version"), prefix: "go version go"}, true
	case "RUST":
		return spec{compiled: true, needs: [][]string{{"/usr/bin/rustc"}}, argv: flag("--version"), prefix: "rustc "}, true
	case "JAVA":
		return spec{compiled: true, needs: [][]string{{"/usr/bin/javac"}, {"/usr/bin/java"}},
			argv: flag("-version"), prefix: "javac "}, true
	case "C":
		return spec{compiled: true, needs: [][]string{{"/usr/bin/gcc"}}, argv: flag("-dumpfullversion")}, true
	case "CPP":
		return spec{compiled: true, needs: [][]string{{"/usr/bin/g++"}}, argv: flag("-dumpfullversion")}, true
	}
	return spec{}, false
}

// Executables returns every absolute path lang's toolchain may use, in the
// order they are tried: for each executable it needs, its alternatives
// (TYPESCRIPT: /usr/bin/node, then the two places of tsc; GO: the two
// places of go). A toolchain needs one alternative of each executable.
// It returns nil for an unknown language.
func Executables(lang string) []string {
	s, ok := specFor(lang)
	if !ok {
		return nil
	}
	var paths []string
	for _, alts := range s.needs {
		paths = append(paths, alts...)
	}
	return paths
}

// Probe runs each toolchain's version command (with ctx, each command
// bounded by 10s) and returns the available ones in the order of
// Languages. A toolchain whose executables are missing, or whose version
// command fails or prints no version, is left out, and missing[lang]
// says why. missing is never nil.
func Probe(ctx context.Context) (available []Toolchain, missing map[string]string) {
	missing = make(map[string]string)
	for _, lang := range Languages() {
		tc, err := ProbeLanguage(ctx, lang)
		if err != nil {
			missing[lang] = err.Error()
			continue
		}
		available = append(available, tc)
	}
	return available, missing
}

// Find returns the executables lang's toolchain needs, the first existing
// alternative of each, in the order of its needs (TYPESCRIPT: node, tsc;
// JAVA: javac, java; the others one). Its error wraps ErrUnknownLanguage
// or ErrNotInstalled. It runs nothing.
func Find(lang string) ([]string, error) {
	s, ok := specFor(lang)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownLanguage, lang)
	}
	return resolve(s.needs)
}

// ProbeLanguage probes one language as Probe does. Its error wraps
// ErrUnknownLanguage, ErrNotInstalled or the version command's failure.
func ProbeLanguage(ctx context.Context, lang string) (Toolchain, error) {
	paths, err := Find(lang)
	if err != nil {
		return Toolchain{}, err
	}
	s, _ := specFor(lang)
	argv := s.argv(paths)
	out, err := run(ctx, argv)
	if err != nil {
		return Toolchain{}, err
	}
	v := parseVersion(lang, out)
	if v == "" {
		return Toolchain{}, fmt.Errorf("toolchain: %s: no version in output %q", strings.Join(argv, " "), clip(out))
	}
	return Toolchain{Language: lang, Version: v, Compiled: s.compiled, Paths: paths}, nil
}

// resolve picks the first existing alternative of each needed executable.
func resolve(needs [][]string) ([]string, error) {
	paths := make([]string, 0, len(needs))
	for _, alts := range needs {
		found := ""
		for _, p := range alts {
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				found = p
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("%w: no %s", ErrNotInstalled, strings.Join(alts, " nor "))
		}
		paths = append(paths, found)
	}
	return paths, nil
}

// run runs argv with a fixed, minimal environment (as a sandbox has none
// of the host's) in /, and returns its stdout and stderr together: javac
// prints its version on stderr before JDK 9.
func run(ctx context.Context, argv []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LC_ALL=C",
		"GOTOOLCHAIN=local", // `go version` must never fetch a toolchain
	}
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", fmt.Errorf("toolchain: %s: %w: %w", strings.Join(argv, " "), ctxErr, err)
		}
		return "", fmt.Errorf("toolchain: %s: %w (output %q)", strings.Join(argv, " "), err, clip(string(out)))
	}
	return string(out), nil
}

// clip shortens output quoted in an error.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// parseVersion returns the version number in a version command's output
// for lang: from the first line that starts with the language's marker
// ("Python ", "go version go", …), the number right after it, up to the
// first character that cannot be part of a version ("5.2.15(1)-release"
// gives "5.2.15"). It returns "" when there is none.
func parseVersion(lang, output string) string {
	s, ok := specFor(lang)
	if !ok {
		return ""
	}
	for line := range strings.Lines(output) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), s.prefix)
		if !ok {
			continue
		}
		if v := leadingVersion(rest); v != "" {
			return v
		}
	}
	return ""
}

// leadingVersion returns the version at the start of s: a digit, then
// digits, letters and . + ~ _ -, without trailing punctuation.
func leadingVersion(s string) string {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return ""
	}
	end := strings.IndexFunc(s, func(r rune) bool {
		return !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || strings.ContainsRune(".+~_-", r))
	})
	if end >= 0 {
		s = s[:end]
	}
	return strings.TrimRight(s, ".+~_-")
}
