package graph

import (
	"context"
	"io"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/graph/model"
)

// maxInlineFile bounds a file carried inside a GraphQL document
// (readFile, writeFile); larger ones go over /files.
const maxInlineFile = 16 << 20

func checkInlineSize(n int, op, method string) error {
	if n > maxInlineFile {
		return apperr.New(apperr.InvalidArgument, "%s takes at most %d MiB; use %s %s/{sandboxId}?path=… for %d bytes",
			op, maxInlineFile>>20, method, filesEndpoint, n)
	}
	return nil
}

// readInline reads a whole file of at most maxInlineFile bytes.
func readInline(ctx context.Context, svc sandboxes.FilesAPI, team, sandboxID, path string) ([]byte, error) {
	f, err := svc.OpenFile(ctx, team, sandboxID, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Info().Size > maxInlineFile {
		return nil, apperr.New(apperr.FailedPrecondition, "%s is %d bytes; readFile returns at most %d MiB: use GET %s/%s?path=…",
			path, f.Info().Size, maxInlineFile>>20, filesEndpoint, sandboxID)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxInlineFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxInlineFile {
		return nil, apperr.New(apperr.FailedPrecondition, "%s grew beyond %d MiB while being read", path, maxInlineFile>>20)
	}
	return data, nil
}

func toFileEvent(ev sandboxes.FileEvent) *model.FileEvent {
	return &model.FileEvent{Type: model.FileEventType(ev.Type), Path: ev.Path, IsDir: ev.IsDir, At: ev.At}
}

// relay converts a service's event channel into a subscription's, until
// ctx ends or the service closes it.
func relay[S, T any](ctx context.Context, in <-chan S, conv func(S) T) <-chan T {
	out := make(chan T, 1)
	go func() {
		defer close(out)
		for {
			select {
			case ev, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- conv(ev):
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
