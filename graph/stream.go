package graph

import (
	"context"
	"sync"

	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/graph/model"
)

// The subscriptions follow gqlgen's recipe: a goroutine owns the channel it
// returns, closes it when done, and every send gives way to the end of the
// subscription's context, so nothing is left behind when a client leaves.

// send delivers v unless ctx ends first; it reports whether v was sent.
func send[T any](ctx context.Context, ch chan<- T, v T) bool {
	select {
	case <-ctx.Done():
		return false
	case ch <- v:
		return true
	}
}

// streamExecution runs an execution and streams it: ExecutionStarted, the
// output chunks in order, and the ExecutionResult last. An error before the
// execution starts (bad input, unknown sandbox) is returned here, so the
// client gets it as the subscription's error; an error after it started
// ends the stream with that error (see failStream).
func streamExecution(ctx context.Context, api sandboxes.API, teamID, sandboxID string, in sandboxes.ExecuteInput) (<-chan model.ExecutionEvent, error) {
	ch := make(chan model.ExecutionEvent)
	started := make(chan struct{})
	startErr := make(chan error, 1)
	var once sync.Once
	markStarted := func() { once.Do(func() { close(started) }) }

	go func() {
		defer close(ch)
		res, err := api.Execute(ctx, teamID, sandboxID, in, func(ev sandboxes.ExecEvent) {
			markStarted()
			if e := toExecutionEvent(ev); e != nil {
				send(ctx, ch, e)
			}
		})
		if err != nil {
			// onEvent runs before Execute returns, so started cannot
			// close after this check.
			select {
			case <-started:
				failStream(ctx, err)
			default:
				startErr <- err
			}
			return
		}
		markStarted()
		send[model.ExecutionEvent](ctx, ch, toExecutionResult(res))
	}()

	select {
	case <-started:
		return ch, nil
	case err := <-startErr:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// streamSandboxEvents relays the service's sandbox events until it closes
// its channel or the subscription ends.
func streamSandboxEvents(ctx context.Context, api sandboxes.API, teamID, sandboxID string) (<-chan *model.SandboxEvent, error) {
	in, err := api.Events(ctx, teamID, sandboxID)
	if err != nil {
		return nil, err
	}
	return relay(ctx, in, toSandboxEvent), nil
}
