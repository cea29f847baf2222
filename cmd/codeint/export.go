package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/codeint/codeint/controlplane/export"
	"github.com/codeint/codeint/controlplane/usage"
)

// exportFlags say where the leader exports closed hours of usage: S3 (or
// an S3-compatible store) as JSON Lines, with the cursor in Raft.
type exportFlags struct {
	bucket, prefix, endpoint, region string
	interval                         time.Duration
	stripe                           bool
	stripeURL                        string
}

func (e *exportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&e.bucket, "export-s3-bucket", "", "export each closed hour of usage to this S3 bucket (JSON Lines per team); off when empty. Credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	fs.StringVar(&e.prefix, "export-s3-prefix", "usage", "key prefix of the exported files")
	fs.StringVar(&e.endpoint, "export-s3-endpoint", "", "an S3-compatible endpoint (path-style), e.g. http://127.0.0.1:9000; AWS's when empty")
	fs.StringVar(&e.region, "export-s3-region", "us-east-1", "the bucket's region")
	fs.DurationVar(&e.interval, "export-interval", export.DefaultInterval, "how often the leader looks for closed hours to export")
	fs.BoolVar(&e.stripe, "export-stripe", false, "report each closed hour to Stripe as meter events (vcpu_seconds, gib_seconds) of the teams with a Stripe customer; the secret key from STRIPE_SECRET_KEY")
	fs.StringVar(&e.stripeURL, "export-stripe-url", "", "Stripe's API base URL (for a test double); Stripe's own when empty")
}

// check refuses an export that cannot work, at start.
func (e exportFlags) check() error {
	if e.stripe && os.Getenv("STRIPE_SECRET_KEY") == "" {
		return errors.New("--export-stripe needs the secret key in STRIPE_SECRET_KEY")
	}
	return nil
}

// runExport, on the leader until ctx ends, exports the ledger's closed
// hours to S3; the cursor is a Raft command, so a new leader carries on.
func runExport(ctx context.Context, e exportFlags, ledger *usage.Service, cursor usage.ExportCursor, log *slog.Logger) {
	if e.stripe {
		stripeCursor := cursor
		stripeCursor.Name = "stripe" // its own progress, apart from S3's
		exp := &export.StripeExporter{Sender: &export.StripeClient{SecretKey: os.Getenv("STRIPE_SECRET_KEY"), BaseURL: e.stripeURL},
			Customer: ledger.StripeCustomer, Source: ledger, Cursor: stripeCursor, Logger: log.With("exporter", "stripe")}
		go exp.Run(ctx, e.interval)
	}
	if e.bucket == "" {
		return
	}
	opts := s3.Options{Region: e.region, UsePathStyle: e.endpoint != "",
		Credentials: credentials.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN"))}
	if e.endpoint != "" {
		opts.BaseEndpoint = aws.String(e.endpoint)
	}
	exp := &export.S3Exporter{Client: s3.New(opts), Bucket: e.bucket, Prefix: e.prefix, Source: ledger, Cursor: cursor, Logger: log}
	exp.Run(ctx, e.interval)
}
