// Package storetest opens real single-server Raft stores, on disk under
// the test's temporary directory, for the tests of the packages built on
// the store: no fake stands in for Raft.
package storetest
