// Package s3test runs a real S3-protocol server (gofakes3, in memory) for
// tests, with a real aws-sdk-go-v2 client pointed at it, and counts the
// objects written.
package s3test
