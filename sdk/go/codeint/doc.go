// Package codeint is the Go client of the codeint GraphQL API.
//
// A Client sends queries and mutations over HTTP and opens subscriptions
// over WebSocket (graphql-transport-ws) or Server-Sent Events. Typed
// helpers cover the common calls; Do and Subscribe take any document.
//
//	c := codeint.New("http://localhost:8080", os.Getenv("CODEINT_API_KEY"))
//	sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{Template: "python"})
//	if err != nil {
//		return err
//	}
//	defer c.TerminateSandbox(ctx, sb.ID)
//	res, err := c.StreamExecute(ctx, sb.ID, codeint.ExecuteInput{
//		Language: codeint.Python,
//		Code:     `print("hello")`,
//	}, func(ch codeint.OutputChunk) { fmt.Print(ch.Data) })
//
// Errors the server reports come back as Errors, a list of *Error; use
// CodeOf(err) or errors.As to read a code such as "NOT_FOUND".
//
// A Client is safe for concurrent use. A Subscription is read by one
// goroutine at a time; Close may be called from any goroutine.
package codeint
