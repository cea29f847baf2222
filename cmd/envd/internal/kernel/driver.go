package kernel

import (
	_ "embed"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/codeint/codeint/nodeagent/envdproto"
)

var (
	//go:embed python_driver.py
	pythonDriver string
	//go:embed node_driver.js
	nodeDriver string
)

// ErrUnsupported is returned for a language without contexts.
var ErrUnsupported = errors.New("kernel: language has no contexts")

// Command returns the argv that runs lang's driver with tools, the
// executables toolchain.Find returns for lang (PYTHON: python3;
// JAVASCRIPT: node; TYPESCRIPT: node and tsc, whose package the driver
// loads to transpile cells). Its error wraps ErrUnsupported.
func Command(lang string, tools []string) ([]string, error) {
	need := 1
	if lang == envdproto.LangTypeScript {
		need = 2
	}
	if !envdproto.HasContexts(lang) {
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, lang)
	}
	if len(tools) < need {
		return nil, fmt.Errorf("kernel: %s needs %d executables, got %q", lang, need, tools)
	}
	switch lang {
	case envdproto.LangPython:
		return []string{tools[0], "-u", "-c", pythonDriver}, nil
	case envdproto.LangJavaScript:
		return []string{tools[0], "-e", nodeDriver, "--", lang}, nil
	default: // TYPESCRIPT: tsc is <package>/bin/tsc
		pkg := filepath.Dir(filepath.Dir(tools[1]))
		return []string{tools[0], "-e", nodeDriver, "--", lang, pkg}, nil
	}
}
