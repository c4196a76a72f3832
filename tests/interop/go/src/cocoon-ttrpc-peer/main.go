// cocoon-ttrpc-peer: the Go side of cocoon's ttrpc interop tests and benchmark, built on
// containerd's own ttrpc (github.com/containerd/ttrpc 1.1.1, as containerd 1.6 uses it).
//
//	cocoon-ttrpc-peer server SOCKETPATH               serve "test.Echo" until SIGTERM/SIGINT
//	cocoon-ttrpc-peer client SOCKETPATH               run the interop checks against a server (TAP)
//	cocoon-ttrpc-peer bench SOCKETPATH CALLERS CALLS  serve on SOCKETPATH and measure unary calls
//
// "test.Echo" has the semantics documented in tests/common/echo-service.h (the C service):
//
//	Echo(BytesValue) -> BytesValue       the same bytes back
//	Fail(StringValue "CODE:MESSAGE")     error with that gRPC code and message
//	Sleep(StringValue "MS") -> Empty     returns after MS milliseconds
//	Block(Empty) -> Empty                blocks until Release is called
//	Release(Empty) -> Empty
//	Meta(StringValue KEY) -> StringValue metadata value for KEY, then ";deadline" if the call
//	                                     carried a timeout
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/types"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	service          = "test.Echo"
	messageLengthMax = 4 << 20
)

// --- the service ---

type echoService struct {
	mu       sync.Mutex
	cond     *sync.Cond
	released int
}

func newEchoService() *echoService {
	s := &echoService{}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *echoService) register(srv *ttrpc.Server) {
	srv.Register(service, map[string]ttrpc.Method{
		"Echo": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req types.BytesValue
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			return &types.BytesValue{Value: req.Value}, nil
		},
		"Fail": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req types.StringValue
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			codeStr, msg, ok := strings.Cut(req.Value, ":")
			code, err := strconv.ParseInt(codeStr, 10, 32)
			if !ok || err != nil {
				return nil, status.Errorf(codes.InvalidArgument,
					"Fail wants \"CODE:MESSAGE\", got %q", req.Value)
			}
			return nil, status.Error(codes.Code(code), msg)
		},
		"Sleep": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req types.StringValue
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			ms, _ := strconv.Atoi(req.Value)
			time.Sleep(time.Duration(ms) * time.Millisecond)
			return &types.Empty{}, nil
		},
		"Block": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req types.Empty
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			s.mu.Lock()
			for s.released == 0 {
				s.cond.Wait()
			}
			s.released--
			s.mu.Unlock()
			return &types.Empty{}, nil
		},
		"Release": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req types.Empty
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			s.mu.Lock()
			s.released++
			s.cond.Signal()
			s.mu.Unlock()
			return &types.Empty{}, nil
		},
		"Meta": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req types.StringValue
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			v, _ := ttrpc.GetMetadataValue(ctx, req.Value)
			if _, ok := ctx.Deadline(); ok {
				v += ";deadline"
			}
			return &types.StringValue{Value: v}, nil
		},
	})
}

// startServer listens on path and serves test.Echo from a goroutine.
func startServer(path string) (*ttrpc.Server, error) {
	srv, err := ttrpc.NewServer(ttrpc.WithServerHandshaker(ttrpc.UnixSocketRequireSameUser()))
	if err != nil {
		return nil, err
	}
	newEchoService().register(srv)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	go func() {
		// Serve returns ErrServerClosed after Close; anything else is worth a line.
		if err := srv.Serve(context.Background(), l); err != nil && !errors.Is(err, ttrpc.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "serve: %v\n", err)
		}
	}()
	return srv, nil
}

func runServer(path string) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	srv, err := startServer(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "server: %v\n", err)
		return 1
	}
	fmt.Println("ready")
	<-sigs
	srv.Close()
	os.Remove(path)
	return 0
}

// --- the client checks ---

func dial(path string) (*ttrpc.Client, error) {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return ttrpc.NewClient(conn), nil
}

func timeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func echo(c *ttrpc.Client, ctx context.Context, data []byte) error {
	var resp types.BytesValue
	if err := c.Call(ctx, service, "Echo", &types.BytesValue{Value: data}, &resp); err != nil {
		return err
	}
	if !bytes.Equal(resp.Value, data) {
		return fmt.Errorf("echo of %d bytes came back as %d different bytes", len(data), len(resp.Value))
	}
	return nil
}

func echoTimeout(c *ttrpc.Client, data []byte, d time.Duration) error {
	ctx, cancel := timeout(d)
	defer cancel()
	return echo(c, ctx, data)
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

// expectStatus checks err is a ttrpc status with code and (unless msg is "") that exact message.
func expectStatus(err error, code codes.Code, msg string) error {
	if err == nil {
		return fmt.Errorf("succeeded, want %v", code)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("error %q is not a status, want %v", err, code)
	}
	if st.Code() != code || (msg != "" && st.Message() != msg) {
		return fmt.Errorf("got %v %q, want %v %q", st.Code(), st.Message(), code, msg)
	}
	return nil
}

type check struct {
	name string
	fn   func(c *ttrpc.Client, path string) error
}

var notes []string // diagnostics printed as TAP comments after the check that made them

func note(format string, a ...interface{}) {
	notes = append(notes, fmt.Sprintf(format, a...))
}

func checkEcho(c *ttrpc.Client, _ string) error {
	for _, n := range []int{0, 1, 64 << 10} {
		if err := echoTimeout(c, pattern(n, 0x5a), 5*time.Second); err != nil {
			return fmt.Errorf("%d bytes: %w", n, err)
		}
	}
	return nil
}

func checkLargeEcho(c *ttrpc.Client, _ string) error {
	return echoTimeout(c, pattern(messageLengthMax-1024, 7), 10*time.Second)
}

func checkErrors(c *ttrpc.Client, _ string) error {
	cases := []struct {
		code codes.Code
		msg  string
	}{
		{5, "container abc: not found"},
		{3, "invalid: bad spec"},
		{6, "container abc: already exists"},
		{9, "process not created"},
		{12, "not implemented: Checkpoint"},
		{14, "agent: connection refused"},
	}
	for _, tc := range cases {
		ctx, cancel := timeout(5 * time.Second)
		arg := fmt.Sprintf("%d:%s", tc.code, tc.msg)
		err := c.Call(ctx, service, "Fail", &types.StringValue{Value: arg}, &types.Empty{})
		cancel()
		if err := expectStatus(err, tc.code, tc.msg); err != nil {
			return fmt.Errorf("Fail %q: %w", arg, err)
		}
	}
	return nil
}

func checkUnimplemented(c *ttrpc.Client, _ string) error {
	ctx, cancel := timeout(5 * time.Second)
	defer cancel()
	err := c.Call(ctx, "no.Such", "X", &types.Empty{}, &types.Empty{})
	if err := expectStatus(err, codes.Unimplemented, "service no.Such"); err != nil {
		return fmt.Errorf("unknown service: %w", err)
	}
	err = c.Call(ctx, service, "Nope", &types.Empty{}, &types.Empty{})
	if err := expectStatus(err, codes.Unimplemented, "method Nope"); err != nil {
		return fmt.Errorf("unknown method: %w", err)
	}
	return nil
}

func checkMetadata(c *ttrpc.Client, _ string) error {
	md := ttrpc.MD{}
	md.Set("containerd-namespace-ttrpc", "k8s.io")
	key := &types.StringValue{Value: "containerd-namespace-ttrpc"}
	var resp types.StringValue
	ctx := ttrpc.WithMetadata(context.Background(), md)
	if err := c.Call(ctx, service, "Meta", key, &resp); err != nil {
		return fmt.Errorf("without timeout: %w", err)
	}
	if resp.Value != "k8s.io" {
		return fmt.Errorf("without timeout: got %q, want \"k8s.io\"", resp.Value)
	}
	tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := c.Call(tctx, service, "Meta", key, &resp); err != nil {
		return fmt.Errorf("with timeout: %w", err)
	}
	if resp.Value != "k8s.io;deadline" {
		return fmt.Errorf("with timeout: got %q, want \"k8s.io;deadline\"", resp.Value)
	}
	return nil
}

func checkConcurrent(c *ttrpc.Client, _ string) error {
	const callers, calls = 8, 200
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		go func(id int) {
			for j := 0; j < calls; j++ {
				data := []byte(fmt.Sprintf("caller %d call %d %s", id, j, strings.Repeat("x", (j*7)%200)))
				if err := echoTimeout(c, data, 10*time.Second); err != nil {
					errs <- fmt.Errorf("caller %d call %d: %w", id, j, err)
					return
				}
			}
			errs <- nil
		}(i)
	}
	var first error
	for i := 0; i < callers; i++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func checkBlock(c *ttrpc.Client, _ string) error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := timeout(20 * time.Second)
		defer cancel()
		done <- c.Call(ctx, service, "Block", &types.Empty{}, &types.Empty{})
	}()
	time.Sleep(50 * time.Millisecond) // let Block reach the server first
	for i := 0; i < 10; i++ {
		if err := echoTimeout(c, []byte(fmt.Sprintf("ping %d", i)), 2*time.Second); err != nil {
			return fmt.Errorf("echo %d while Block is pending: %w", i, err)
		}
	}
	select {
	case err := <-done:
		return fmt.Errorf("Block returned before Release: %v", err)
	default:
	}
	ctx, cancel := timeout(5 * time.Second)
	defer cancel()
	if err := c.Call(ctx, service, "Release", &types.Empty{}, &types.Empty{}); err != nil {
		return fmt.Errorf("Release: %w", err)
	}
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("Block: %w", err)
		}
	case <-time.After(5 * time.Second):
		return errors.New("Block did not return within 5 s of Release")
	}
	return nil
}

// Go ttrpc 1.1.1's client has no size check of its own (later versions refuse with
// OversizedMessageErr): it sends the frame, and the server must discard it and answer
// RESOURCE_EXHAUSTED on its stream.
func checkOversized(c *ttrpc.Client, _ string) error {
	data := pattern(messageLengthMax+1, 3)
	start := time.Now()
	ctx, cancel := timeout(20 * time.Second)
	defer cancel()
	var resp types.BytesValue
	err := c.Call(ctx, service, "Echo", &types.BytesValue{Value: data}, &resp)
	took := time.Since(start)
	if err == nil {
		return errors.New("an Echo of 4 MiB + 1 bytes succeeded")
	}
	if st, ok := status.FromError(err); ok {
		note("Go client sent Echo(4 MiB + 1 bytes); got status %v %q after %v",
			st.Code(), st.Message(), took.Round(time.Millisecond))
		if st.Code() != codes.ResourceExhausted {
			return fmt.Errorf("status %v %q, want RESOURCE_EXHAUSTED", st.Code(), st.Message())
		}
	} else {
		note("Go client sent Echo(4 MiB + 1 bytes); got a non-status error %q after %v",
			err, took.Round(time.Millisecond))
	}
	if err := echoTimeout(c, []byte("after oversized"), 5*time.Second); err != nil {
		return fmt.Errorf("next call on the same connection: %w", err)
	}
	return nil
}

func checkDeadline(c *ttrpc.Client, _ string) error {
	ctx, cancel := timeout(100 * time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Call(ctx, service, "Sleep", &types.StringValue{Value: "500"}, &types.Empty{})
	took := time.Since(start)
	if err == nil {
		return errors.New("Sleep 500 with a 100 ms timeout succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) && status.Code(err) != codes.DeadlineExceeded {
		return fmt.Errorf("got %v, want DEADLINE_EXCEEDED", err)
	}
	if took < 100*time.Millisecond || took > 400*time.Millisecond {
		return fmt.Errorf("returned after %v, want 100-400 ms", took)
	}
	if err := echoTimeout(c, []byte("after deadline"), 5*time.Second); err != nil {
		return fmt.Errorf("next call: %w", err)
	}
	// The server's late answer to Sleep must not confuse the client either.
	time.Sleep(450 * time.Millisecond)
	if err := echoTimeout(c, []byte("after the late reply"), 5*time.Second); err != nil {
		return fmt.Errorf("call after the late reply: %w", err)
	}
	return nil
}

func runClient(path string) int {
	logrus.SetOutput(io.Discard) // the ttrpc package logs to logrus; keep the TAP stream clean
	c, err := dial(path)
	if err != nil {
		fmt.Printf("1..1\nnot ok - connect to %s: %v\n", path, err)
		return 1
	}
	defer c.Close()
	checks := []check{
		{"unary echo of 0, 1 and 65536 bytes is byte-exact", checkEcho},
		{"echo of 4 MiB - 1 KiB (just under the frame limit) is byte-exact", checkLargeEcho},
		{"error codes 5, 3, 6, 9, 12, 14 and their messages come through exactly", checkErrors},
		{"unknown service / method -> UNIMPLEMENTED \"service no.Such\" / \"method Nope\"", checkUnimplemented},
		{"metadata containerd-namespace-ttrpc=k8s.io reaches the handler, timeout too", checkMetadata},
		{"8 concurrent callers x 200 calls, all byte-exact", checkConcurrent},
		{"a blocked call (Block) does not stall 10 Echo calls; Release ends it", checkBlock},
		{"oversized request (Echo of 4 MiB + 1 bytes) -> RESOURCE_EXHAUSTED, connection still works", checkOversized},
		{"Sleep 500 with a 100 ms timeout -> DEADLINE_EXCEEDED, connection still works", checkDeadline},
	}
	fmt.Printf("1..%d\n", len(checks))
	failed := 0
	for _, ck := range checks {
		notes = nil
		err := ck.fn(c, path)
		if err != nil {
			failed++
			fmt.Printf("not ok - %s: %v\n", ck.name, err)
		} else {
			fmt.Printf("ok - %s\n", ck.name)
		}
		for _, n := range notes {
			fmt.Printf("# %s\n", n)
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// --- the benchmark ---

// runBench serves on path and measures CALLERS goroutines sharing one client connection, each
// making CALLS unary Echo calls of 16 bytes after a warm-up. Prints one line of figures.
func runBench(path string, callers, calls int) int {
	logrus.SetOutput(io.Discard)
	srv, err := startServer(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	defer os.Remove(path)
	defer srv.Close()
	c, err := dial(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	defer c.Close()

	payload := []byte("0123456789abcdef")
	req := &types.BytesValue{Value: payload}
	ctx := context.Background()
	warmup := calls / 10
	if warmup > 5000 {
		warmup = 5000
	}
	lat := make([][]time.Duration, callers)
	starts := make([]time.Time, callers)
	ends := make([]time.Time, callers)
	errs := make(chan error, callers)
	var ready, wg sync.WaitGroup
	gate := make(chan struct{})
	ready.Add(callers)
	wg.Add(callers)
	for i := 0; i < callers; i++ {
		go func(id int) {
			defer wg.Done()
			var resp types.BytesValue
			for j := 0; j < warmup; j++ {
				if err := c.Call(ctx, service, "Echo", req, &resp); err != nil {
					errs <- err
					ready.Done()
					return
				}
			}
			l := make([]time.Duration, calls)
			ready.Done()
			<-gate
			starts[id] = time.Now()
			for j := 0; j < calls; j++ {
				t0 := time.Now()
				err := c.Call(ctx, service, "Echo", req, &resp)
				l[j] = time.Since(t0)
				if err != nil || len(resp.Value) != len(payload) {
					errs <- fmt.Errorf("call %d: %v", j, err)
					return
				}
			}
			ends[id] = time.Now()
			lat[id] = l
		}(i)
	}
	ready.Wait()
	close(gate)
	wg.Wait()
	select {
	case err := <-errs:
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	default:
	}
	first, last := starts[0], ends[0]
	all := make([]time.Duration, 0, callers*calls)
	for i := 0; i < callers; i++ {
		if starts[i].Before(first) {
			first = starts[i]
		}
		if ends[i].After(last) {
			last = ends[i]
		}
		all = append(all, lat[i]...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	secs := last.Sub(first).Seconds()
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	fmt.Printf("Go callers=%d calls=%d calls_per_s=%.0f p50_us=%.1f p99_us=%.1f\n", callers,
		len(all), float64(len(all))/secs, us(all[len(all)/2]), us(all[len(all)*99/100]))
	return 0
}

func main() {
	usage := "usage: cocoon-ttrpc-peer server|client SOCKETPATH | bench SOCKETPATH CALLERS CALLS"
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		os.Exit(runServer(os.Args[2]))
	case "client":
		os.Exit(runClient(os.Args[2]))
	case "bench":
		if len(os.Args) != 5 {
			break
		}
		callers, err1 := strconv.Atoi(os.Args[3])
		calls, err2 := strconv.Atoi(os.Args[4])
		if err1 != nil || err2 != nil || callers < 1 || calls < 1 {
			break
		}
		os.Exit(runBench(os.Args[2], callers, calls))
	}
	fmt.Fprintln(os.Stderr, usage)
	os.Exit(2)
}
