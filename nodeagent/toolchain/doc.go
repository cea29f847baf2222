// Package toolchain finds which language toolchains a host offers and
// their versions.
//
// The sandbox template `base` bind-mounts the host's /usr, /lib, /lib64,
// /bin and /sbin read-only, so what the host has under those paths is what
// its sandboxes have. Probe looks only there, at fixed absolute paths (never
// $PATH, /root or /home, which sandboxes do not see), and runs each
// toolchain's version command to tell the node agent which of the GraphQL
// enum's languages (PYTHON, JAVASCRIPT, TYPESCRIPT, BASH, GO, RUST, JAVA, C,
// CPP) it can offer, and at which version.
//
// Languages are plain strings spelled as in the GraphQL enum. The version
// parsing is pure (parseVersion) and table-tested; the probe itself runs
// the real tools. .ci/install-deps installs every toolchain listed here.
package toolchain
