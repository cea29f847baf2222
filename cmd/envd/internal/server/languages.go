package server

import (
	"fmt"
	"path/filepath"
	"regexp"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/codeint/codeint/nodeagent/toolchain"
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

// javaClass finds the public class a Java source declares; its file must
// carry its name.
var javaClass = regexp.MustCompile(`(?m)^\s*public\s+(?:final\s+|abstract\s+)*class\s+([A-Za-z_$][A-Za-z0-9_$]*)`)

func fixed(name string) func(string) string { return func(string) string { return name } }

// lookupLanguage returns how to run lang with the executables package
// toolchain finds for it (the base template binds the host's /usr, so
// they are the host's). Its error wraps toolchain.ErrUnknownLanguage or
// toolchain.ErrNotInstalled.
func lookupLanguage(lang string) (language, error) {
	tools, err := toolchain.Find(lang)
	if err != nil {
		return language{}, err
	}
	switch lang {
	case envdproto.LangPython:
		return interpreted("main.py", tools[0]), nil
	case envdproto.LangJavaScript:
		return interpreted("main.js", tools[0]), nil
	case envdproto.LangBash:
		return interpreted("main.sh", tools[0]), nil
	case envdproto.LangTypeScript:
		node, tsc := tools[0], tools[1]
		return language{
			source: fixed("main.ts"),
			compile: func(dir, src string) []string {
				return []string{node, tsc, "--target", "es2022", "--module", "commonjs",
					"--skipLibCheck", "--noEmitOnError", "--pretty", "false", "--outDir", dir, src}
			},
			run: func(dir, _ string) []string { return []string{node, filepath.Join(dir, "main.js")} },
		}, nil
	case envdproto.LangGo:
		return language{
			source: fixed("main.go"),
			compile: func(dir, src string) []string {
				return []string{tools[0], "build", "-o", filepath.Join(dir, "main"), src}
			},
			run: binary,
			env: func(home string) map[string]string {
				return map[string]string{"GOCACHE": filepath.Join(home, ".cache", "go-build"), "GOPATH": filepath.Join(home, "go"),
					"GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0"}
			},
		}, nil
	case envdproto.LangRust:
		return language{
			source: fixed("main.rs"),
			compile: func(dir, src string) []string {
				return []string{tools[0], "-o", filepath.Join(dir, "main"), src}
			},
			run: binary,
		}, nil
	case envdproto.LangJava:
		javac, java := tools[0], tools[1]
		return language{
			source: func(code string) string {
				if m := javaClass.FindStringSubmatch(code); m != nil {
					return m[1] + ".java"
				}
				return "Main.java"
			},
			compile: func(dir, src string) []string { return []string{javac, "-d", dir, src} },
			run: func(dir, src string) []string {
				return []string{java, "-cp", dir, trimExt(filepath.Base(src))}
			},
		}, nil
	case envdproto.LangC:
		return language{
			source: fixed("main.c"),
			compile: func(dir, src string) []string {
				return []string{tools[0], "-O2", "-std=gnu17", "-o", filepath.Join(dir, "main"), src, "-lm"}
			},
			run: binary,
		}, nil
	case envdproto.LangCPP:
		return language{
			source: fixed("main.cpp"),
			compile: func(dir, src string) []string {
				return []string{tools[0], "-O2", "-std=c++17", "-o", filepath.Join(dir, "main"), src, "-lm"}
			},
			run: binary,
		}, nil
	}
	return language{}, fmt.Errorf("%w %q (envd cannot run it)", toolchain.ErrUnknownLanguage, lang)
}

func interpreted(file, prog string) language {
	return language{source: fixed(file), run: func(_, src string) []string { return []string{prog, src} }}
}

func binary(dir, _ string) []string { return []string{filepath.Join(dir, "main")} }

func trimExt(name string) string { return name[:len(name)-len(filepath.Ext(name))] }
