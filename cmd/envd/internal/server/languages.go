package server

import (
	"os"
	"path/filepath"
	"regexp"

	"github.com/codeint/codeint/nodeagent/envdproto"
)

// language says how envd runs one language: the source file's name, the
// compile step (none for interpreted languages) and the run step. dir is
// the execution's build directory, which holds the source; compile writes
// its output there too.
type language struct {
	source  func(code string) string // file name of the source in dir
	compile func(dir, src string) []string
	run     func(dir, src string) []string
	// env is added to the environment of both steps: caches under the
	// user's home, kept for the sandbox's life.
	env func(home string) map[string]string
}

// Toolchain locations: the base template binds the host's /usr, so these
// are the host's. The first that exists is used.
var (
	goCandidates  = []string{"/usr/local/go/bin/go", "/usr/lib/go/bin/go"}
	tscCandidates = []string{"/usr/local/lib/node_modules/typescript/bin/tsc", "/usr/lib/node_modules/typescript/bin/tsc"}
)

// javaClass finds the public class a Java source declares; its file must
// carry its name.
var javaClass = regexp.MustCompile(`(?m)^\s*public\s+(?:final\s+|abstract\s+)*class\s+([A-Za-z_$][A-Za-z0-9_$]*)`)

func fixed(name string) func(string) string { return func(string) string { return name } }

// lookupLanguage returns how to run lang, and whether envd knows it.
func lookupLanguage(lang string) (language, bool) {
	switch lang {
	case envdproto.LangPython:
		return interpreted("main.py", "/usr/bin/python3"), true
	case envdproto.LangJavaScript:
		return interpreted("main.js", "/usr/bin/node"), true
	case envdproto.LangBash:
		return interpreted("main.sh", "/bin/bash"), true
	case envdproto.LangTypeScript:
		return language{
			source: fixed("main.ts"),
			compile: func(dir, src string) []string {
				return []string{"/usr/bin/node", firstExisting(tscCandidates), "--target", "es2022", "--module", "commonjs",
					"--skipLibCheck", "--noEmitOnError", "--pretty", "false", "--outDir", dir, src}
			},
			run: func(dir, _ string) []string { return []string{"/usr/bin/node", filepath.Join(dir, "main.js")} },
		}, true
	case envdproto.LangGo:
		return language{
			source: fixed("main.go"),
			compile: func(dir, src string) []string {
				return []string{firstExisting(goCandidates), "build", "-o", filepath.Join(dir, "main"), src}
			},
			run: binary,
			env: func(home string) map[string]string {
				return map[string]string{"GOCACHE": filepath.Join(home, ".cache", "go-build"), "GOPATH": filepath.Join(home, "go"),
					"GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0"}
			},
		}, true
	case envdproto.LangRust:
		return language{
			source: fixed("main.rs"),
			compile: func(dir, src string) []string {
				return []string{"/usr/bin/rustc", "-o", filepath.Join(dir, "main"), src}
			},
			run: binary,
		}, true
	case envdproto.LangJava:
		return language{
			source: func(code string) string {
				if m := javaClass.FindStringSubmatch(code); m != nil {
					return m[1] + ".java"
				}
				return "Main.java"
			},
			compile: func(dir, src string) []string { return []string{"/usr/bin/javac", "-d", dir, src} },
			run: func(dir, src string) []string {
				return []string{"/usr/bin/java", "-cp", dir, trimExt(filepath.Base(src))}
			},
		}, true
	case envdproto.LangC:
		return language{
			source: fixed("main.c"),
			compile: func(dir, src string) []string {
				return []string{"/usr/bin/gcc", "-O2", "-std=gnu17", "-o", filepath.Join(dir, "main"), src, "-lm"}
			},
			run: binary,
		}, true
	case envdproto.LangCPP:
		return language{
			source: fixed("main.cpp"),
			compile: func(dir, src string) []string {
				return []string{"/usr/bin/g++", "-O2", "-std=c++17", "-o", filepath.Join(dir, "main"), src, "-lm"}
			},
			run: binary,
		}, true
	}
	return language{}, false
}

func interpreted(file, prog string) language {
	return language{source: fixed(file), run: func(_, src string) []string { return []string{prog, src} }}
}

func binary(dir, _ string) []string { return []string{filepath.Join(dir, "main")} }

func trimExt(name string) string { return name[:len(name)-len(filepath.Ext(name))] }

// firstExisting returns the first path that exists, or the first path (the
// start then fails naming it).
func firstExisting(paths []string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return paths[0]
}
