// Package langtest holds the programs the language tests run in every
// language envd offers (envd's own tests and the end-to-end ones), so
// both test the same programs. It is for tests only.
package langtest
