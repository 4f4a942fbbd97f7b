package store

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// batcher sends the scripts many goroutines run at once — the webhook
// handlers' enqueues, the workers' commits — together: a call waits while
// the batch before it is on the wire, then goes out with the calls that
// arrived meanwhile, in one pipeline. Under load that is one write and one
// read for many calls instead of one each, on both ends of the connection;
// alone, a call goes out at once. On a Cluster the pipeline is split by
// node; every key of a flow is on one node.
//
// A batch's commands are independent: each touches one contact's keys, and
// calls a goroutine makes one after the other (a worker's commits, a
// contact's successive webhooks) still run in that order, since each waits
// for its reply before the next is made. A pipeline broken midway and
// retried by go-redis may run a command twice, as a retried single command
// may: the scripts are built for it (dedupe IDs, commit sequence numbers).
type batcher struct {
	rdb   redis.UniversalClient
	calls chan *batchCall
	stop  <-chan struct{} // the store closed
	wg    sync.WaitGroup
}

// batchCall is one script call waiting for its batch.
type batchCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
	done   chan struct{}
}

const (
	// maxBatch bounds the calls of one pipeline.
	maxBatch = 128
	// batchSenders is how many batches may be on the wire at once: while
	// one waits for its replies, the next is being sent.
	batchSenders = 2
)

func newBatcher(ctx context.Context, rdb redis.UniversalClient) *batcher {
	b := &batcher{rdb: rdb, calls: make(chan *batchCall, maxBatch), stop: ctx.Done()}
	for range batchSenders {
		b.wg.Go(func() { b.send(ctx) })
	}
	return b
}

// run runs script through the next batch. If ctx ends (or the store
// closes) first it returns that error, and the call may or may not be
// applied, as with any command whose reply was lost.
func (b *batcher) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	c := &batchCall{script: script, keys: keys, args: args, done: make(chan struct{})}
	select {
	case b.calls <- c:
	case <-ctx.Done():
		return errorCmd(ctx, ctx.Err())
	case <-b.stop:
		return errorCmd(ctx, ErrClosed)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return errorCmd(ctx, ctx.Err())
	case <-b.stop:
		return errorCmd(ctx, ErrClosed)
	}
	if err := c.cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Not cached (a Redis restart): nothing ran; send the script itself.
		return script.Run(ctx, b.rdb, keys, args...)
	}
	return c.cmd
}

// send takes the calls waiting, up to maxBatch, and sends them as one
// pipeline, until ctx ends.
func (b *batcher) send(ctx context.Context) {
	batch := make([]*batchCall, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-b.calls:
			batch = append(batch[:0], c)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case c := <-b.calls:
				batch = append(batch, c)
			default:
				break more
			}
		}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
		pipe := b.rdb.Pipeline()
		for _, c := range batch {
			c.cmd = c.script.EvalSha(pctx, pipe, c.keys, c.args...)
		}
		_, _ = pipe.Exec(pctx) // each command carries its own result or error
		cancel()
		for _, c := range batch {
			close(c.done)
		}
	}
}

// errorCmd is a command that failed with err before it was sent.
func errorCmd(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}
