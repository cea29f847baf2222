package runc

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hostDirs are bound read-only from the host when they exist; a symlink
// (/bin -> usr/bin on merged-/usr systems) is recreated as a symlink.
func hostDirs() []string { return []string{"/usr", "/lib", "/lib64", "/bin", "/sbin"} }

// mountpoints are created in the empty rootfs: the container's root cannot
// create them itself in a directory owned by the host's root.
func mountpoints() []string {
	return []string{"proc", "dev", "sys", "tmp", "home/user", "run/envd", "usr", "lib", "lib64", "bin", "sbin", "etc", ".codeint"}
}

// WriteBundle writes an OCI bundle for opts into dir (created 0711): config.json,
// an empty rootfs with its mountpoints, and a minimal etc. The paths above
// dir must be searchable by opts.UIDBase (see the package doc).
func WriteBundle(dir string, opts Options) error {
	opts = opts.withDefaults()
	if err := ValidateID(opts.ID); err != nil {
		return err
	}
	if opts.EnvdPath == "" {
		return errors.New("runc: Options.EnvdPath is required")
	}
	if err := os.Mkdir(dir, 0o711); err != nil {
		return fmt.Errorf("runc: create bundle: %w", err)
	}
	if err := os.Chmod(dir, 0o711); err != nil { // umask
		return fmt.Errorf("runc: create bundle: %w", err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := writeRootfs(rootfs); err != nil {
		return err
	}
	etcFiles, err := writeEtc(filepath.Join(dir, "etc"))
	if err != nil {
		return err
	}
	if err := writeEnvFile(filepath.Join(dir, envFileName), opts); err != nil {
		return err
	}
	spec, err := Spec(opts, dir, etcFiles)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return fmt.Errorf("runc: encode config.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		return fmt.Errorf("runc: write config.json: %w", err)
	}
	return nil
}

func writeRootfs(rootfs string) error {
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return fmt.Errorf("runc: create rootfs: %w", err)
	}
	for _, d := range hostDirs() {
		if target, err := os.Readlink(d); err == nil {
			if err := os.Symlink(target, filepath.Join(rootfs, d)); err != nil {
				return fmt.Errorf("runc: rootfs symlink %s: %w", d, err)
			}
		}
	}
	for _, m := range mountpoints() {
		p := filepath.Join(rootfs, m)
		if _, err := os.Lstat(p); err == nil {
			continue // a symlink made above
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("runc: rootfs mountpoint %s: %w", m, err)
		}
	}
	for _, file := range []string{envdMountpoint, envMountpoint} {
		f, err := os.OpenFile(filepath.Join(rootfs, file), os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			return fmt.Errorf("runc: rootfs mountpoint %s: %w", file, err)
		}
		f.Close()
	}
	return nil
}

// writeEnvFile writes the sandbox's environment for envd, which hands it
// to every execution: KEY=VALUE entries, each ended by a NUL byte (values
// may hold newlines, never NULs). It belongs to the container's root, mode
// 0400: envd reads it at start, user code cannot. The environment does
// not travel in envd's own process environment, which gVisor lets any
// process of the sandbox read (/proc/1/environ).
func writeEnvFile(path string, opts Options) error {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(opts.Env)) {
		b.WriteString(k + "=" + opts.Env[k] + "\x00")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o400); err != nil {
		return fmt.Errorf("runc: write env file: %w", err)
	}
	if err := os.Chown(path, int(opts.UIDBase), int(opts.UIDBase)); err != nil {
		return fmt.Errorf("runc: chown env file: %w", err)
	}
	return nil
}

// hostEtcFiles are bound read-only from the host's /etc when present.
// Never /etc/shadow or anything else with secrets.
func hostEtcFiles() []string {
	// matplotlibrc: Debian's matplotlib reads its defaults from /etc;
	// fonts: fontconfig's configuration, which matplotlib's text needs.
	names := []string{"ld.so.cache", "alternatives", "matplotlibrc", "fonts"}
	// Debian's JDKs read their configuration (jvm.cfg, java.security)
	// through links into /etc/java-N-openjdk.
	jdks, _ := filepath.Glob("/etc/java-*-openjdk")
	for _, p := range jdks {
		names = append(names, filepath.Base(p))
	}
	return names
}

// writeEtc writes the container's /etc and returns the host /etc entries to
// bind over it, with mountpoints made for them.
func writeEtc(etc string) ([]string, error) {
	if err := os.Mkdir(etc, 0o755); err != nil {
		return nil, fmt.Errorf("runc: create etc: %w", err)
	}
	files := map[string]string{
		"passwd":        "root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000:user:/home/user:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"group":         "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n",
		"hosts":         "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		"hostname":      "sandbox\n",
		"nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
		"resolv.conf":   "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o644); err != nil {
			return nil, fmt.Errorf("runc: write etc/%s: %w", name, err)
		}
	}
	var binds []string
	for _, name := range hostEtcFiles() {
		fi, err := os.Stat(filepath.Join("/etc", name))
		if err != nil {
			continue
		}
		p := filepath.Join(etc, name)
		if fi.IsDir() {
			err = os.Mkdir(p, 0o755)
		} else {
			err = os.WriteFile(p, nil, 0o644)
		}
		if err != nil {
			return nil, fmt.Errorf("runc: etc mountpoint %s: %w", name, err)
		}
		binds = append(binds, name)
	}
	return binds, nil
}

// BundleUIDBase reads the host uid a bundle maps the container's root to,
// from its config.json.
func BundleUIDBase(dir string) (uint32, error) {
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return 0, fmt.Errorf("runc: read bundle config: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return 0, fmt.Errorf("runc: decode bundle config: %w", err)
	}
	if spec.Linux == nil || len(spec.Linux.UIDMappings) == 0 {
		return 0, fmt.Errorf("runc: bundle %s has no uid mapping", dir)
	}
	return spec.Linux.UIDMappings[0].HostID, nil
}
